"""Site settings an administrator changes in the browser, over the environment's defaults."""
