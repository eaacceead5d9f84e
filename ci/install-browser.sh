#!/usr/bin/env bash
# Installs Debian's chromium and its chromedriver (package chromium-driver), so that the
# reports' browser test (tests/report/test_reports_in_browser.py) renders the HTML reports
# headless instead of skipping; with CI=true that test fails when they are missing.
# Idempotent; .ci/run calls it.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "browser: $(/usr/bin/chromium --version 2>/dev/null); $(/usr/bin/chromedriver --version)"
