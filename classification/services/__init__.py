"""Write paths of the classification app, one module per concern."""
