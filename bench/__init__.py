"""Load generators that measure a running chatsite; outside the app, which never imports them."""
