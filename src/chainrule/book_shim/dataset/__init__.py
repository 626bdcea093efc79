"""The book's ``dataset`` package, re-exporting chainrule."""
