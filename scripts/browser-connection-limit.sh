#!/usr/bin/env bash
# The per-host connection limit of HTTP/1.1 in a browser, measured (docs/findings.md): one
# page of headless Chromium opens 8 EventSources, then 8 long-poll fetch loops, then 8
# WebSockets to one `pushbench serve` on a free loopback port, publishing 20 messages/s, and
# prints per connection what it saw (opened when, messages, latency), what a further fetch of
# the origin sees meanwhile, and what the waiting ones do once two are closed. About 30 s.
#
# Needs chromium and chromedriver (scripts/install-chromium.sh). It is the test
# `one_page_gets_six_http_connections_to_an_origin_and_websockets_more` of
# crates/cli/tests/browser.rs, which also checks the figures; this prints them. The test
# profile (dependencies optimised, pushbench itself not): the figures are the browser's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-chromium.sh
exec cargo test -p pushbench --test browser one_page_gets_six -- --nocapture --test-threads=1
