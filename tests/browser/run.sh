#!/bin/bash
# run.sh BINARY WORK_DIR - the dashboard in headless Chromium against a
# real `dmarcd serve` (no mocks): generated history for three domains,
# one hostile report, SMTP TLS reports (tls/: acme.com's, one hostile, a
# domain with TLS reports only, and a second account's), DMARC failure
# reports (failures/: ARF mails of acme.com, one hostile, one of the
# second account), reports that make alert rules fire (alerts/: a
# silent reporter of acme.com whose name is markup; report mails of the
# second account that could not be read) with the rules run at two chosen moments, an admin
# token and the second account's; then dashboard.test.mjs drives Debian's
# chromium through playwright-core (npm, node_modules/).
#
# WORK_DIR is emptied first. Afterwards it holds the data folder
# (data/), the server's log (serve.log), the downloads and the
# screenshots (screenshots/*.png), kept as artifacts.
#
# Exit status: the test script's (0 all checks ok, 1 a check failed);
# 2 when the set-up fails, also when a tool is missing (node, chromium,
# playwright-core or uPlot in web/vendor/): `make test` installs them, so
# their absence is a failure, never a skip.
# Extra environment: CHROMIUM (default /usr/bin/chromium), NODE (default node).
set -u

if [ $# -lt 2 ]; then
	echo "usage: $0 BINARY WORK_DIR" >&2
	exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
gen=$(dirname "$bin")/bench/gen
chromium=${CHROMIUM:-/usr/bin/chromium}
node=${NODE:-node}

rm -rf "$work"
mkdir -p "$work" || exit 2
work=$(cd "$work" && pwd)
mkdir -p "$work/tmp" "$work/screenshots"
export TMPDIR=$work/tmp LC_ALL=C TZ=UTC
unset DMARCD_CONFIG

skip() {
	echo "browser: FAIL: $* (scripts/deps.sh test installs it)" >&2
	exit 2
}
command -v "$node" >/dev/null 2>&1 || skip "no node (Debian package nodejs)"
[ -x "$chromium" ] || skip "no $chromium (Debian package chromium)"
[ -f "$repo/node_modules/playwright-core/package.json" ] || skip "no node_modules/playwright-core (scripts/deps.sh)"
[ -f "$repo/web/vendor/uPlot.iife.min.js" ] || skip "no web/vendor/uPlot.iife.min.js (scripts/deps.sh)"
[ -x "$bin" ] || { echo "browser: $bin: not an executable" >&2; exit 2; }
[ -x "$gen" ] || { echo "browser: $gen: not built" >&2; exit 2; }

die() {
	echo "browser: set-up failed: $*" >&2
	exit 2
}

D=$work/data
G=$work/gen
"$gen" history "$G" --records 3000 --days 30 --domains 3 >"$work/gen.out" 2>&1 ||
	die "bench/gen history: $(cat "$work/gen.out")"
"$bin" account add acme --catch-all --data "$D" >"$work/account.out" 2>&1 ||
	die "account add: $(cat "$work/account.out")"

# The hostile report: markup where a reporter's name and a report id go.
# Its period is the generated history's last day, so the default view
# (the last 30 days with data) shows it.
cat >"$work/hostile.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>&lt;img src=x onerror="window.__xss=1"&gt;</org_name>
    <email>dmarc@hostile.example</email>
    <extra_contact_info>javascript:window.__xss=3</extra_contact_info>
    <report_id>&lt;script&gt;window.__xss=2&lt;/script&gt;</report_id>
    <date_range>
      <begin>1798675200</begin>
      <end>1798761599</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>acme.com</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.66</source_ip>
      <count>7</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>fail</dkim>
        <spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>acme.com</header_from>
    </identifiers>
    <auth_results>
      <spf>
        <domain>&lt;b&gt;evil&lt;/b&gt;.example</domain>
        <result>fail</result>
      </spf>
    </auth_results>
  </record>
</feedback>
EOF

# SMTP TLS reports (RFC 8460), in the generated history's last days:
# acme.com's from two reporters (JSON, gzip, one with dates without a
# time zone: a warning), a hostile one (markup and javascript: where
# names, MX hosts, result types, policy strings and additional
# information go), one of a domain that has TLS reports only, and one of
# a second account's domain. dashboard.test.mjs reads these files for
# the numbers it expects.
T=$work/tls
mkdir -p "$T"
cat >"$T/acme-google-1.json" <<'EOF'
{
  "organization-name": "Google Inc.",
  "date-range": {"start-datetime": "2026-12-27T00:00:00Z", "end-datetime": "2026-12-27T23:59:59Z"},
  "contact-info": "smtp-tls-reporting@google.com",
  "report-id": "2026-12-27T00:00:00Z_acme.com",
  "policies": [{
    "policy": {
      "policy-type": "sts",
      "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.acme.com", "mx: mx2.acme.com", "max_age: 604800"],
      "policy-domain": "acme.com",
      "mx-host": ["mx1.acme.com", "mx2.acme.com"]
    },
    "summary": {"total-successful-session-count": 1200, "total-failure-session-count": 15},
    "failure-details": [
      {"result-type": "certificate-expired", "sending-mta-ip": "209.85.220.41",
       "receiving-mx-hostname": "mx1.acme.com", "receiving-ip": "192.0.2.25", "failed-session-count": 10},
      {"result-type": "starttls-not-supported", "sending-mta-ip": "209.85.220.42",
       "receiving-mx-hostname": "mx2.acme.com", "receiving-ip": "192.0.2.26", "failed-session-count": 5,
       "failure-reason-code": "530 5.7.0 Must issue a STARTTLS command first"}
    ]
  }]
}
EOF
cat >"$T/acme-microsoft-2.json" <<'EOF'
{
  "organization-name": "Microsoft Corporation",
  "date-range": {"start-datetime": "2026-12-28T00:00:00", "end-datetime": "2026-12-28T23:59:59"},
  "contact-info": "tlsrpt-noreply@microsoft.com",
  "report-id": "133780000000000000+acme.com",
  "policies": [
    {
      "policy": {"policy-type": "sts", "policy-domain": "acme.com", "mx-host": "mx1.acme.com",
                 "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.acme.com", "max_age: 604800"]},
      "summary": {"total-successful-session-count": 800, "total-failure-session-count": 3},
      "failure-details": [
        {"result-type": "certificate-not-trusted", "sending-mta-ip": "2a01:111:f400::1",
         "receiving-mx-hostname": "mx1.acme.com", "receiving-mx-helo": "mx1.acme.com",
         "receiving-ip": "192.0.2.25", "failed-session-count": 3}
      ]
    },
    {
      "policy": {"policy-type": "tlsa", "policy-domain": "acme.com", "mx-host": "mx2.acme.com",
                 "policy-string": ["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"]},
      "summary": {"total-successful-session-count": 100, "total-failure-session-count": 2},
      "failure-details": [
        {"result-type": "dane-required", "receiving-mx-hostname": "mx2.acme.com", "failed-session-count": 2}
      ]
    }
  ]
}
EOF
gzip -n -9 "$T/acme-microsoft-2.json" || die "gzip"
cat >"$T/acme-google-3.json" <<'EOF'
{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-12-30T00:00:00Z","end-datetime":"2026-12-30T23:59:59Z"},"contact-info":"smtp-tls-reporting@google.com","report-id":"2026-12-30T00:00:00Z_acme.com","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx1.acme.com","mx: mx2.acme.com","max_age: 604800"],"policy-domain":"acme.com","mx-host":["mx1.acme.com","mx2.acme.com"]},"summary":{"total-successful-session-count":1500,"total-failure-session-count":0}}]}
EOF
cat >"$T/hostile-tls.json" <<'EOF'
{
  "organization-name": "<img src=x onerror=\"window.__xss=11\">",
  "date-range": {"start-datetime": "2026-12-31T00:00:00Z", "end-datetime": "2026-12-31T23:59:59Z"},
  "contact-info": "javascript:window.__xss=13",
  "report-id": "<script>window.__xss=12</script>",
  "policies": [{
    "policy": {
      "policy-type": "<b>sts</b>",
      "policy-string": ["<script>window.__xss=15</script>", "mode: <b>enforce</b>"],
      "policy-domain": "acme.com",
      "mx-host": "<img src=x onerror=\"window.__xss=14\">"
    },
    "summary": {"total-successful-session-count": 10, "total-failure-session-count": 7},
    "failure-details": [
      {"result-type": "<img src=x onerror=\"window.__xss=16\">", "sending-mta-ip": "198.51.100.66",
       "receiving-mx-hostname": "<svg onload=\"window.__xss=17\">.acme.com", "receiving-mx-helo": "<i>helo</i>",
       "additional-information": "javascript:window.__xss=18", "failure-reason-code": "<u>550</u>",
       "failed-session-count": 4},
      {"result-type": "validation-failure", "receiving-mx-hostname": "mx1.acme.com",
       "additional-information": "https://reporter.example/<img src=x onerror=window.__xss=19>",
       "failed-session-count": 3}
    ]
  }]
}
EOF
cat >"$T/tlsonly.json" <<'EOF'
{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-12-29T00:00:00Z","end-datetime":"2026-12-29T23:59:59Z"},"contact-info":"smtp-tls-reporting@google.com","report-id":"2026-12-29T00:00:00Z_tls-only.example","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.tls-only.example","max_age: 86400"],"policy-domain":"tls-only.example","mx-host":"mx.tls-only.example"},"summary":{"total-successful-session-count":300,"total-failure-session-count":0}}]}
EOF
cat >"$T/beta.json" <<'EOF'
{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-12-29T00:00:00Z","end-datetime":"2026-12-29T23:59:59Z"},"contact-info":"smtp-tls-reporting@google.com","report-id":"2026-12-29T00:00:00Z_beta.example","policies":[{"policy":{"policy-type":"sts","policy-domain":"beta.example","mx-host":"mx.beta.example"},"summary":{"total-successful-session-count":50,"total-failure-session-count":5},"failure-details":[{"result-type":"validation-failure","receiving-mx-hostname":"mx.beta.example","failed-session-count":5}]}]}
EOF
gzip -n -9 "$T/beta.json" || die "gzip"

# DMARC failure reports (ARF, RFC 6591): multipart/report mails with a
# message/feedback-report part and the original message, whose body
# holds a marker that must never be stored. Two are from a source of the
# generated history of acme.com (the first one of its last day's first
# report), one from an address no aggregate report names, one hostile
# (markup where the subject, the user agent, the reporting MTA and the
# Message-ID go; its source is the hostile aggregate report's), one of
# the second account's domain. dashboard.test.mjs parses these files
# for what it expects.
F=$work/failures
mkdir -p "$F"
fip=
for f in "$G/reports/$(ls "$G/reports" | tail -1)"/*.xml.gz; do
	if gzip -dc "$f" | grep -m1 '<domain>' | grep -q '<domain>acme.com</domain>'; then
		fip=$(gzip -dc "$f" | sed -n 's:.*<source_ip>\(.*\)</source_ip>.*:\1:p' | head -1)
		break
	fi
done
[ -n "$fip" ] || die "no source of acme.com in the generated history"
# arf FILE DOMAIN ARRIVAL SOURCE-IP USER-AGENT REPORTING-MTA FROM TO SUBJECT MESSAGE-ID
arf() {
	cat >"$F/$1" <<EOF
From: DMARC failure reports <dmarc-noreply@receiver.example>
To: ruf@$2
Subject: DMARC failure report for $2
Message-ID: <report-$1@receiver.example>
Date: $3
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf-$1"

--arf-$1
Content-Type: text/plain; charset=us-ascii

This is an authentication failure report for a message from $4.

--arf-$1
Content-Type: message/feedback-report

Feedback-Type: auth-failure
User-Agent: $5
Version: 1
Original-Mail-From: <bounces@$2>
Original-Rcpt-To: <carol.recipient@receiver.example>
Arrival-Date: $3
Reporting-MTA: dns; $6
Source-IP: $4
Reported-Domain: $2
Authentication-Results: mx.receiver.example; dmarc=fail (p=reject) header.from=$2
Auth-Failure: dmarc
Identity-Alignment: none
Delivery-Result: reject

--arf-$1
Content-Type: message/rfc822

Received: from sender.example ([$4]) by mx.receiver.example; $3
From: $7
To: $8
Subject: $9
Message-ID: ${10}
Date: $3
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Dear customer, BODY-SECRET-4e1d-marker: the account number is 12345678.

--arf-$1--
EOF
}
arf acme-1.eml acme.com 'Sun, 20 Dec 2026 10:15:00 +0000' "$fip" 'ExampleARF/1.0' mx1.receiver.example \
	'Billing Department <billing.dept@acme.com>' 'Carol Recipient <carol.recipient@receiver.example>' \
	'Your invoice 4711' '<invoice-4711@acme.com>'
arf acme-2.eml acme.com 'Thu, 24 Dec 2026 18:40:12 +0000' "$fip" 'OtherReporter 3.2' mx2.receiver.example \
	'payroll.office@acme.com' 'carol.recipient@receiver.example' \
	'Payroll update' '<payroll-22@acme.com>'
arf acme-3.eml acme.com 'Mon, 28 Dec 2026 07:05:59 +0000' 198.51.100.23 'ExampleARF/1.0' mx1.receiver.example \
	'"CEO" <chief.executive@acme.com>' 'carol.recipient@receiver.example' \
	'Urgent wire transfer' '<wire-1@attacker.example>'
arf hostile-failure.eml acme.com 'Wed, 30 Dec 2026 12:00:00 +0000' 192.0.2.66 \
	'<script>window.__xss=22</script>' '<svg onload="window.__xss=23">.example' \
	'"<b>x</b>" <evil.sender@acme.com>' 'carol.recipient@receiver.example' \
	'<img src=x onerror="window.__xss=21">' '<<script>window.__xss=24</script>@attacker.example>'
arf beta-1.eml beta.example 'Tue, 29 Dec 2026 09:00:00 +0000' 203.0.113.9 'ExampleARF/1.0' mx1.receiver.example \
	'news@beta.example' 'carol.recipient@receiver.example' 'Beta newsletter' '<news-1@beta.example>'

# Alerts (docs/ALERTS.md). A reporter of acme.com whose name is markup
# sends a report a day from 2026-12-20 to 12-28, then none: silent. Five
# report mails to the second account's address could not be read
# (spool/failed/, written below as serve leaves them, on 2027-01-01;
# no aggregate report of it: the admin's domains stay the generated
# ones). The rules run at 2026-12-31 12:00 and 2027-01-01 12:00: the
# reporter is silent at both; the generated history adds alerts of its
# own, some opened at the first run and resolved at the second.
# dashboard.test.mjs expects what `dmarcd alerts list` says then
# (alerts/ACCOUNT.jsonl).
A=$work/alerts
mkdir -p "$A"
# agg FILE ORG REPORT-ID DOMAIN DAY IP:COUNT:pass|fail...
agg() {
	local file=$1 org=$2 rid=$3 domain=$4 begin row ip n res
	begin=$(date -u -d "$5" +%s) || die "date $5"
	shift 5
	{
		printf '<?xml version="1.0" encoding="UTF-8"?>\n<feedback><report_metadata><org_name>%s</org_name>' "$org"
		printf '<email>dmarc@reporter.example</email><report_id>%s</report_id>' "$rid"
		printf '<date_range><begin>%s</begin><end>%s</end></date_range></report_metadata>' "$begin" $((begin + 86399))
		printf '<policy_published><domain>%s</domain><p>none</p></policy_published>\n' "$domain"
		for row in "$@"; do
			IFS=: read -r ip n res <<<"$row"
			printf '<record><row><source_ip>%s</source_ip><count>%s</count><policy_evaluated>' "$ip" "$n"
			printf '<disposition>none</disposition><dkim>%s</dkim><spf>%s</spf></policy_evaluated></row>' "$res" "$res"
			printf '<identifiers><header_from>%s</header_from></identifiers>' "$domain"
			printf '<auth_results><spf><domain>%s</domain><result>%s</result></spf></auth_results></record>\n' "$domain" "$res"
		done
		printf '</feedback>\n'
	} >"$A/$file"
}
for d in 20 21 22 23 24 25 26 27 28; do
	agg "acme-silent-$d.xml" '&lt;img src=x onerror="alert(31);window.__xss=31"&gt;' "silent-2026-12-$d" \
		acme.com "2026-12-$d" 192.0.2.10:20:pass
done

# ingest --account is new; without it the reports are stored unclaimed,
# which the admin token sees as well
acct=()
if "$bin" ingest --help 2>&1 | grep -q -- '--account'; then
	acct=(--account acme)
fi
"$bin" ingest --data "$D" "${acct[@]}" "$G/reports" "$work/hostile.xml" \
	"$T/acme-google-1.json" "$T/acme-microsoft-2.json.gz" "$T/acme-google-3.json" \
	"$T/hostile-tls.json" "$T/tlsonly.json" \
	"$F/acme-1.eml" "$F/acme-2.eml" "$F/acme-3.eml" "$F/hostile-failure.eml" "$A"/acme-silent-*.xml >"$work/ingest.out" 2>&1 ||
	die "ingest: $(tail -5 "$work/ingest.out")"
# the second account: its own domain, its TLS report, its token
"$bin" account add beta --data "$D" >"$work/beta.out" 2>&1 &&
	"$bin" domain add beta.example --account beta --address dmarc@beta.example --data "$D" >>"$work/beta.out" 2>&1 &&
	"$bin" ingest --data "$D" --account beta "$T/beta.json.gz" "$F/beta-1.eml" >>"$work/beta.out" 2>&1 ||
	die "the second account: $(tail -5 "$work/beta.out")"
# the second account's mails that could not be read
mkdir -p "$D/spool/failed" || die "mkdir spool/failed"
for n in 1 2 3 4 5; do
	f=$D/spool/failed/1798783200.4242.${n}0abcdef
	printf 'X-Dmarcd-Envelope: 1\nX-Dmarcd-From: <x@sender.example>\nX-Dmarcd-Rcpt: <dmarc@beta.example>\nX-Dmarcd-Client: 192.0.2.1 helo ESMTP 1798783200\n\nnot a report\n' >"$f" &&
		printf 'not a report\n' >"$f.why" &&
		touch -d '2027-01-01 06:00 UTC' "$f" "$f.why" || die "spool/failed"
done
# the alert rules at two moments, then what they found, per account
for now in 2026-12-31T12:00 2027-01-01T12:00; do
	"$bin" alerts run --data "$D" --now "$now" >>"$work/alerts.out" 2>&1 ||
		die "alerts run --now $now: $(tail -5 "$work/alerts.out")"
done
for a in acme beta; do
	"$bin" alerts list --data "$D" --account "$a" --json >"$A/$a.jsonl" 2>>"$work/alerts.out" ||
		die "alerts list --account $a: $(tail -5 "$work/alerts.out")"
done
"$bin" token add --admin --name browser --data "$D" >"$work/token.out" 2>"$work/token.err" ||
	die "token add: $(cat "$work/token.err")"
# the token is the last word printed
token=$(awk 'NF { t = $NF } END { print t }' "$work/token.out")
[ -n "$token" ] || die "token add printed no token"
"$bin" token add --account beta --name browser-beta --data "$D" >"$work/token-beta.out" 2>"$work/token.err" ||
	die "token add --account beta: $(cat "$work/token.err")"
token_beta=$(awk 'NF { t = $NF } END { print t }' "$work/token-beta.out")
[ -n "$token_beta" ] || die "token add --account beta printed no token"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
	die "no free port"
# the dashboard's files: this checkout's web/ (web_dir, when the
# configuration has it; the server also starts in the checkout, for a
# default relative to the working directory); alerts = off: the rules
# ran above at chosen moments, and serve's alert thread would run them
# now, resolving every alert
serve_args=(serve --data "$D" --smtp none --http "127.0.0.1:$port" --config "$work/dmarcd.conf")
printf 'alerts = off\n' >"$work/dmarcd.conf"
if "$bin" config help 2>/dev/null | grep -q '^ *web_dir '; then
	printf 'web_dir = %s\n' "$repo/web" >>"$work/dmarcd.conf"
fi
(cd "$repo" && exec "$bin" "${serve_args[@]}") >"$work/serve.log" 2>&1 &
pid=$!
stop() {
	if [ -n "${pid:-}" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=
	fi
}
trap stop EXIT

healthy() {
	python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}
up=0
for _ in $(seq 100); do
	if healthy "$port"; then
		up=1
		break
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
[ "$up" = 1 ] || die "dmarcd serve did not answer /healthz on port $port: $(tail -5 "$work/serve.log")"

DMARCD_URL=http://127.0.0.1:$port \
	DMARCD_TOKEN=$token \
	DMARCD_WORK=$work \
	DMARCD_EXPECTED=$G/expected.json \
	DMARCD_HOSTILE=$work/hostile.xml \
	DMARCD_TLS=$T \
	DMARCD_FAILURES=$F \
	DMARCD_TOKEN_BETA=$token_beta \
	DMARCD_ALERTS=$A \
	CHROMIUM=$chromium \
	"$node" "$here/dashboard.test.mjs"
rc=$?
stop
if [ "$rc" != 0 ]; then
	echo "browser: the server's log: $work/serve.log; screenshots: $work/screenshots/"
fi
exit "$rc"
