"""The syntax of Tenet: grammar loading, parsing to the AST, message templates."""
