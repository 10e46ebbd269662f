#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run it.
# Used by the README's test command and by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]' 2> >(grep -v "^WARNING: Location" >&2)
# The IMAP tests start their own Dovecot (tests/imapserver.py): install the
# package when it is missing, without letting it start the system service.
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        policy=/usr/sbin/policy-rc.d
        own_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
        fi
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null; } \
            || echo "scripts/test.sh: could not install dovecot-imapd" >&2
        if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
        if command -v systemctl >/dev/null 2>&1; then systemctl stop dovecot >/dev/null 2>&1 || true; fi
    else
        echo "scripts/test.sh: dovecot not found; the IMAP tests need it (apt-get install dovecot-imapd)" >&2
    fi
fi
# The differential test against Delta Chat core (tests/test_differential.py)
# chats through its own loopback Postfix + Dovecot LMTP (tests/mailserver.py):
# installed like dovecot-imapd above, without starting the system services.
if { [ ! -x /usr/sbin/postfix ] || [ ! -x /usr/lib/dovecot/lmtp ]; } \
        && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix dovecot-lmtpd >/dev/null; } \
        || echo "scripts/test.sh: could not install postfix dovecot-lmtpd" >&2
    if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi
    if command -v systemctl >/dev/null 2>&1; then systemctl stop postfix >/dev/null 2>&1 || true; fi
fi
# The web UI tests drive a real headless Chromium through Playwright
# (executable_path=/usr/bin/chromium; `playwright install` is never used).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
            || echo "scripts/test.sh: could not install chromium" >&2
    else
        echo "scripts/test.sh: /usr/bin/chromium not found; the browser tests need it (apt-get install chromium)" >&2
    fi
fi
# The zsh completion script is loaded in a real zsh (tests/test_cli_people.py).
if ! command -v zsh >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zsh >/dev/null; } \
        || echo "scripts/test.sh: could not install zsh" >&2
fi
# PySpark (tests/test_spark.py) needs a Java runtime: same way as zsh.
if ! command -v java >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; } \
        || echo "scripts/test.sh: could not install default-jre-headless" >&2
fi
exec .venv/bin/python -m pytest -q "$@"
