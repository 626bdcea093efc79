"""The book's ``common`` package, re-exporting chainrule."""
