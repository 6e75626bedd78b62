"""Platform-wide operational reads (metrics): every organization at once, counts only."""
