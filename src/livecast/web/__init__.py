"""Web pages: the watch page, and its static assets (hls.js is installed from npm by `make`)."""
