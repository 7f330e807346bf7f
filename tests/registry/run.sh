#!/usr/bin/env bash
# Command-line tests of the registry: `dmarcd account`, `dmarcd domain`,
# `dmarcd address` and `dmarcd token` - help, usage errors, exit codes,
# the printed DNS records, report_host from a config file, --json lines,
# API tokens shown once and never listed.
#
#   tests/registry/run.sh BINARY WORK_DIR
#
# Writes only inside WORK_DIR (emptied first).  JSON lines are checked
# with python3.  Exit 0 when every check passes, 1 otherwise.
set -u

SUITE=registry
. "$(cd "$(dirname "$0")" && pwd)/../lib.sh" "$@"

expect_out() {
	local name=$1 want=$2 text=$3
	if [ "$rc" = "$want" ] && [ "$(cat "$W/out")" = "$text" ]; then ok "$name"; else
		fail "$name" "expected exit $want and stdout:" "$text" "$(show)"
	fi
}
# a refusal: exit 1, one line on stderr that matches PATTERN, nothing on stdout
expect_refused() {
	local name=$1 pattern=$2
	if [ "$rc" = 1 ] && [ "$(wc -l <"$W/err")" = 1 ] && has "$W/err" "$pattern" &&
		[ ! -s "$W/out" ]; then
		ok "$name"
	else
		fail "$name (want exit 1 and one stderr line matching '$pattern')" "$(show)"
	fi
}
# JSON lines of $W/out as "k=v k=v" lines (keys given), via python3;
# prints "BADJSON" for a line that is not a JSON object
jsonl() {
	python3 -c '
import json, sys
keys = sys.argv[2:]
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
        assert isinstance(o, dict)
    except Exception:
        print("BADJSON " + line.strip())
        continue
    print(" ".join("%s=%s" % (k, json.dumps(o.get(k, "MISSING"))) for k in keys))
' "$W/out" "$@"
}
expect_json() {
	local name=$1 want=$2
	shift 2
	local got
	got=$(jsonl "$@")
	if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then ok "$name"; else
		fail "$name" "want:" "$want" "got:" "$got" "$(show)"
	fi
}

# ---- help ---------------------------------------------------------------------

run --help
missing=""
for c in account domain address token; do has "$W/out" "^  $c " || missing="$missing $c"; done
if [ $rc = 0 ] && [ -z "$missing" ]; then ok "dmarcd --help lists account, domain, address, token"; else
	fail "dmarcd --help lists account, domain, address, token" "missing:$missing" "$(show)"; fi

help_case() {
	local cmd=$1
	shift
	run "$cmd" --help
	local missing=""
	for f in "$@" --data --config --help; do has "$W/out" "$f" || missing="$missing $f"; done
	if [ $rc = 0 ] && [ -z "$missing" ] && has "$W/out" "^usage: dmarcd $cmd "; then
		ok "$cmd --help lists every option"
	else
		fail "$cmd --help lists every option" "missing:$missing" "$(show)"
	fi
}
help_case account "add NAME" "list" --catch-all --json
help_case domain "add DOMAIN" "list" --account --address --json
help_case address "list" --json
help_case token "add (--account NAME | --admin)" "list" "revoke ID" --account --admin --name \
	--replace --json

# ---- usage errors: exit 2, a message, no data folder created -----------------------

U=$W/usage-data
usage_case() {
	local name=$1
	shift
	run "$@"
	if [ "$rc" = 2 ] && [ -s "$W/err" ] && [ ! -e "$U" ]; then
		ok "usage error: $name"
	else
		fail "usage error: $name (want exit 2, a message on stderr, no $U)" "$(show)"
		rm -rf "$U"
	fi
}
usage_case "account without subcommand" account --data "$U"
usage_case "account unknown subcommand" account remove acme --data "$U"
usage_case "account add without NAME" account add --data "$U"
usage_case "account add with two names" account add a b --data "$U"
usage_case "account add --json" account add a --json --data "$U"
usage_case "account list --catch-all" account list --catch-all --data "$U"
usage_case "account unknown flag" account add a --bogus --data "$U"
usage_case "account add --address (a domain flag)" account add a --address x@y.example --data "$U"
usage_case "domain without subcommand" domain --data "$U"
usage_case "domain add without DOMAIN" domain add --account a --data "$U"
usage_case "domain add without --account" domain add example.com --data "$U"
usage_case "domain add --account without value" domain add example.com --data "$U" --account
usage_case "domain list with an operand" domain list example.com --data "$U"
usage_case "domain list --account" domain list --account a --data "$U"
usage_case "address add" address add x@y.example --data "$U"
usage_case "address without subcommand" address --data "$U"
usage_case "address list --catch-all" address list --catch-all --data "$U"
usage_case "a bad --config file" account add a --config "$W/no-such.conf" --data "$U"
usage_case "token without subcommand" token --data "$U"
usage_case "token unknown subcommand" token delete 1 --data "$U"
usage_case "token add without --account or --admin" token add --data "$U"
usage_case "token add with --account and --admin" token add --account a --admin --data "$U"
usage_case "token add with an operand" token add acme --admin --data "$U"
usage_case "token add --json" token add --admin --json --data "$U"
usage_case "token add --account without value" token add --data "$U" --account
usage_case "token add --name without value" token add --admin --data "$U" --name
usage_case "token list --admin" token list --admin --data "$U"
usage_case "token list --replace" token list --replace --data "$U"
usage_case "token list with an operand" token list 1 --data "$U"
usage_case "token revoke without ID" token revoke --data "$U"
usage_case "token revoke with two IDs" token revoke 1 2 --data "$U"
usage_case "token revoke a non-number" token revoke abc --data "$U"
usage_case "token revoke a negative id" token revoke --data "$U" -- -1
usage_case "token revoke 0" token revoke 0 --data "$U"
usage_case "token revoke --json" token revoke 1 --json --data "$U"
usage_case "token revoke --name" token revoke 1 --name x --data "$U"

# ---- an empty registry ---------------------------------------------------------------

D=$W/data
for c in account domain address token; do
	run $c list --data "$D"
	expect_out "$c list of a missing registry: exit 0, nothing" 0 ""
	run $c list --json --data "$D"
	expect_out "$c list --json of a missing registry: exit 0, nothing" 0 ""
done
if [ ! -e "$D" ]; then ok "listing does not create the data folder"; else
	fail "listing does not create the data folder" "$(ls -la "$D")"; fi
run domain add example.com --account acme --data "$D"
expect_refused "domain add with no registry yet: no such account" "no such account 'acme'"
if [ ! -e "$D/registry.sqlite" ]; then ok "a refused domain add creates no registry"; else
	fail "a refused domain add creates no registry"; fi

# ---- accounts ---------------------------------------------------------------------------

run account add acme --data "$D"
expect_out "account add acme" 0 "account acme (id 1) created"
if [ -f "$D/registry.sqlite" ] && [ "$(sqlite3 "$D/registry.sqlite" 'PRAGMA journal_mode' 2>&1)" = wal ]; then
	ok "the registry is $D/registry.sqlite in WAL mode"
else
	fail "the registry is $D/registry.sqlite in WAL mode" "$(ls -la "$D")"
fi
run account add beta --data "$D"
expect_out "account add beta" 0 "account beta (id 2) created"
run account add --catch-all everyone --data "$D"
if [ "$rc" = 0 ] && [ "$(head -1 "$W/out")" = "account everyone (id 3) created" ] &&
	has "$W/out" "any address" && has "$W/out" "any domain"; then
	ok "account add --catch-all says it accepts any address and claims any domain"
else
	fail "account add --catch-all says it accepts any address and claims any domain" "$(show)"
fi
run account add acme --data "$D"
expect_refused "account add of an existing name: exit 1" "account 'acme' exists already"
run account add ACME --data "$D"
expect_refused "account names are unique whatever their case" "exists already"
run account add "bad name" --data "$D"
expect_refused "account add of an invalid name: exit 1" "invalid account name"
run account add "$(printf 'x%.0s' $(seq 1 65))" --data "$D"
expect_refused "account add of a 65-character name: exit 1" "invalid account name"

run account list --data "$D"
if [ "$rc" = 0 ] && [ "$(sed -n 2p "$W/out" | awk '{print $1, $2, $3}')" = "acme 1 no" ] &&
	[ "$(sed -n 4p "$W/out" | awk '{print $1, $2, $3}')" = "everyone 3 yes" ] &&
	[ "$(wc -l <"$W/out")" = 4 ]; then
	ok "account list: a header and the accounts by name"
else
	fail "account list: a header and the accounts by name" "$(show)"
fi
run account list --json --data "$D"
expect_json "account list --json: one object per account, by name" \
	'account="acme" account_id=1 catch_all=false
account="beta" account_id=2 catch_all=false
account="everyone" account_id=3 catch_all=true' account account_id catch_all

# ---- domains ------------------------------------------------------------------------------

C=$W/conf
mkdir -p "$C"
printf '# registry test\nreport_host = rua.example.net\n' >"$C/host.conf"
printf 'report_host = env.example.org\n' >"$C/env.conf"

run domain add Example.COM. --account acme --config "$C/host.conf" --data "$D"
addr=$(sed -n 's/^report address: //p' "$W/out")
if [ "$rc" = 0 ] && [[ $addr =~ ^r[a-z2-9]{10}@rua\.example\.net$ ]]; then
	ok "domain add: a generated address at report_host from --config ($addr)"
else
	fail "domain add: a generated address at report_host from --config" "$(show)"
fi
expect_out "domain add prints the address and the two DNS records" 0 "domain example.com added to account acme
report address: $addr
publish:
  _dmarc.example.com. IN TXT \"v=DMARC1; p=none; rua=mailto:$addr\"
  example.com._report._dmarc.rua.example.net. IN TXT \"v=DMARC1\""
acme_addr=$addr

DMARCD_CONFIG=$C/env.conf run domain add env.example --account beta --data "$D"
addr=$(sed -n 's/^report address: //p' "$W/out")
if [ "$rc" = 0 ] && [[ $addr =~ ^r[a-z2-9]{10}@env\.example\.org$ ]] &&
	has "$W/out" "^  env.example._report._dmarc.env.example.org. IN TXT \"v=DMARC1\"$"; then
	ok "domain add: report_host from \$DMARCD_CONFIG"
else
	fail "domain add: report_host from \$DMARCD_CONFIG" "$(show)"
fi
env_addr=$addr

run domain add default.example --account beta --data "$D"
addr=$(sed -n 's/^report address: //p' "$W/out")
if [ "$rc" = 0 ] && [[ $addr =~ ^r[a-z2-9]{10}@reports\.localhost$ ]] && [ "$addr" != "$env_addr" ]; then
	ok "domain add: the default report_host is reports.localhost"
else
	fail "domain add: the default report_host is reports.localhost" "$(show)"
fi
default_addr=$addr

run domain add beta.example --account beta --address DMARC@Mail.Beta.Example --data "$D"
expect_out "domain add --address inside the domain: one DNS record" 0 "domain beta.example added to account beta
report address: dmarc@mail.beta.example
publish:
  _dmarc.beta.example. IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc@mail.beta.example\""

run domain add outside.example --account beta --address rua@collector.example --data "$D"
expect_out "domain add --address outside the domain: two DNS records" 0 "domain outside.example added to account beta
report address: rua@collector.example
publish:
  _dmarc.outside.example. IN TXT \"v=DMARC1; p=none; rua=mailto:rua@collector.example\"
  outside.example._report._dmarc.collector.example. IN TXT \"v=DMARC1\""

run domain add example.com --account beta --data "$D"
expect_refused "domain add of a registered domain: exit 1" "registered already"
run domain add EXAMPLE.com. --account acme --data "$D"
expect_refused "domain add: the same domain in another case" "registered already"
run domain add new.example --account nobody --data "$D"
expect_refused "domain add for a missing account: exit 1" "no such account 'nobody'"
for bad in com bad_domain.example x-.example "a..example" "sp ace.example" \
	"$(printf 'a%.0s' $(seq 1 64)).example"; do
	run domain add --account acme --data "$D" -- "$bad"
	expect_refused "domain add of invalid domain '${bad:0:20}': exit 1" "invalid domain"
done
for bad in noat "a@b@c.example" "a b@c.example" "postmaster@c.example" "x@com"; do
	run domain add new.example --account acme --address "$bad" --data "$D"
	expect_refused "domain add with invalid address '$bad': exit 1" "invalid address"
done
run domain add new.example --account acme --address rua@collector.example --data "$D"
expect_refused "domain add with another account's address: exit 1" "another account"

run domain list --data "$D"
if [ "$rc" = 0 ] && [ "$(tail -n +2 "$W/out" | awk '{print $1, $2}' | tr '\n' ';')" = \
	"beta.example beta;default.example beta;env.example beta;example.com acme;outside.example beta;" ]; then
	ok "domain list: the domains by name with their account"
else
	fail "domain list: the domains by name with their account" "$(show)"
fi
run domain list --json --data "$D"
expect_json "domain list --json: one object per domain, by domain" \
	'domain="beta.example" account="beta" account_id=2
domain="default.example" account="beta" account_id=2
domain="env.example" account="beta" account_id=2
domain="example.com" account="acme" account_id=1
domain="outside.example" account="beta" account_id=2' domain account account_id

# ---- addresses ------------------------------------------------------------------------------

run address list --json --data "$D"
want=$(printf '%s\n' '"*" everyone null' "\"$acme_addr\" acme \"example.com\"" \
	"\"$env_addr\" beta \"env.example\"" "\"$default_addr\" beta \"default.example\"" \
	'"dmarc@mail.beta.example" beta "beta.example"' \
	'"rua@collector.example" beta "outside.example"' | sort)
got=$(jsonl address account domain | sed 's/address=//; s/ account="\([^"]*\)"/ \1/; s/ domain=/ /')
if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then
	ok "address list --json: address, account, domain; catch-all as '*'; sorted"
else
	fail "address list --json: address, account, domain; catch-all as '*'; sorted" \
		"want:" "$want" "got:" "$got" "$(show)"
fi
run address list --data "$D"
if [ "$rc" = 0 ] && [ "$(wc -l <"$W/out")" = 7 ] && has "$W/out" "^address " &&
	has "$W/out" "^$acme_addr  *acme  *example.com$" &&
	has "$W/out" "^\*  *everyone " && has "$W/out" "^rua@collector.example  *beta  *outside.example$"; then
	ok "address list: a header and one line per address"
else
	fail "address list: a header and one line per address" "$(show)"
fi

# ---- API tokens ----------------------------------------------------------------------------

TOKEN_RE='^dmt_[0-9]+_[A-Za-z0-9_-]{43}$'
# add_token NAME ARGS...: a token on one stdout line, the shown-once note on stderr
add_token() {
	local name=$1
	shift
	run token add "$@" --data "$D"
	tok=$(cat "$W/out")
	if [ "$rc" = 0 ] && [ "$(wc -l <"$W/out")" = 1 ] && [[ $tok =~ $TOKEN_RE ]] &&
		has "$W/err" "shown only this once"; then
		ok "$name"
	else
		fail "$name (want exit 0, one stdout line matching $TOKEN_RE, a note on stderr)" "$(show)"
	fi
}
add_token "token add --account acme: the token alone on stdout" --account acme
t1=$tok
[[ $t1 == dmt_1_* ]] && ok "the first token has id 1" || fail "the first token has id 1" "$t1"
add_token "token add --admin --name ops" --admin --name ops
t2=$tok
add_token "token add --account beta --name make-run" --account beta --name make-run
t3=$tok
if [ "$t1" != "$t2" ] && [ "${t1#*_*_}" != "${t2#*_*_}" ]; then ok "tokens differ in their secrets"; else
	fail "tokens differ in their secrets" "$t1" "$t2"; fi
run token add --account nobody --data "$D"
expect_refused "token add for a missing account: exit 1" "no such account 'nobody'"
run token add --admin --name "bad name" --data "$D"
expect_refused "token add with an invalid name: exit 1" "invalid token name"

# the secrets are nowhere: not listed, not stored
secrets_in() {
	local f found=""
	for t in "$t1" "$t2" "$t3"; do
		for f in "$@"; do
			[ -e "$f" ] && grep -q -a -F -e "${t#dmt_*_}" "$f" && found="$found $f"
		done
	done
	echo "$found"
}
run token list --data "$D"
if [ "$rc" = 0 ] && [ "$(wc -l <"$W/out")" = 4 ] && has "$W/out" "^ *id  *account  *name  *created  *revoked$" &&
	has "$W/out" "^ *1  *acme  *cli  *[0-9T:Z-]*  *-$" && has "$W/out" "^ *2  *admin  *ops  *[0-9T:Z-]*  *-$" &&
	has "$W/out" "^ *3  *beta  *make-run  *[0-9T:Z-]*  *-$"; then
	ok "token list: a header and id, account (or admin), name, created, revoked"
else
	fail "token list: a header and id, account (or admin), name, created, revoked" "$(show)"
fi
if [ -z "$(secrets_in "$W/out")" ] && ! grep -q -E '[A-Za-z0-9_-]{43}|[0-9a-f]{64}' "$W/out"; then
	ok "token list shows no secret and no hash"
else
	fail "token list shows no secret and no hash" "$(show)"
fi
run token list --json --data "$D"
expect_json "token list --json: one object per token with its fields" \
	'id=1 account="acme" account_id=1 admin=false name="cli" revoked_at=null
id=2 account=null account_id=0 admin=true name="ops" revoked_at=null
id=3 account="beta" account_id=2 admin=false name="make-run" revoked_at=null' \
	id account account_id admin name revoked_at
keys=$(python3 -c 'import json,sys; print(" ".join(sorted(set(k for l in open(sys.argv[1]) for k in json.loads(l)))))' "$W/out")
if [ "$keys" = "account account_id admin created_at id name revoked_at" ] &&
	[ -z "$(secrets_in "$W/out")" ]; then
	ok "token list --json: exactly id, account, account_id, admin, name, created_at, revoked_at"
else
	fail "token list --json: exactly id, account, account_id, admin, name, created_at, revoked_at" \
		"keys: $keys" "$(show)"
fi
found=$(secrets_in "$D"/registry.sqlite*)
if [ -z "$found" ]; then ok "no secret is stored in the registry files"; else
	fail "no secret is stored in the registry files" "in:$found"; fi

# --replace: the live tokens of that name and account go, the rest stay
add_token "token add --replace" --account beta --name make-run --replace
t4=$tok
[[ $t4 == dmt_4_* ]] && ok "a replacing token gets a new id" || fail "a replacing token gets a new id" "$t4"
add_token "token add --admin --name make-run --replace (nothing of the admin's to replace)" \
	--admin --name make-run --replace
run token list --json --data "$D"
got=$(jsonl id account name revoked_at | sed 's/revoked_at=[0-9][0-9]*/revoked/; s/revoked_at=null/live/')
want='id=1 account="acme" name="cli" live
id=2 account=null name="ops" live
id=3 account="beta" name="make-run" revoked
id=4 account="beta" name="make-run" live
id=5 account=null name="make-run" live'
if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then ok "--replace revoked the old token of the same name and account only"; else
	fail "--replace revoked the old token of the same name and account only" "want:" "$want" "got:" "$got"; fi

# revoke
run token revoke 1 --data "$D"
expect_out "token revoke 1" 0 "token 1 revoked"
run token list --data "$D"
if [ "$rc" = 0 ] && has "$W/out" "^ *1  *acme  *cli  *[0-9T:Z-]*  *[0-9]*-[0-9T:Z-]*$"; then
	ok "token list shows when token 1 was revoked"
else
	fail "token list shows when token 1 was revoked" "$(show)"
fi
run token revoke 1 --data "$D"
expect_refused "token revoke of a revoked token: exit 1" "no live token with id 1"
run token revoke 99 --data "$D"
expect_refused "token revoke of an unknown id: exit 1" "no live token with id 99"
run token revoke 3 --data "$D"
expect_refused "token revoke of a replaced token: exit 1" "no live token with id 3"
run token revoke 1 --data "$W/no-registry"
expect_refused "token revoke with no registry: exit 1" "no live token"
if [ ! -e "$W/no-registry" ]; then ok "a refused token revoke creates no data folder"; else
	fail "a refused token revoke creates no data folder"; fi

# an admin token on a fresh data folder (make run's first start)
E=$W/fresh
run token add --admin --name make-run --replace --data "$E"
if [ "$rc" = 0 ] && [[ $(cat "$W/out") =~ $TOKEN_RE ]] && [ -f "$E/registry.sqlite" ]; then
	ok "token add --admin on a fresh data folder creates the registry"
else
	fail "token add --admin on a fresh data folder creates the registry" "$(show)"
fi
run token add --account acme --data "$W/fresh2"
expect_refused "token add --account with no registry yet: exit 1" "no such account 'acme'"
if [ ! -e "$W/fresh2/registry.sqlite" ]; then ok "a refused token add creates no registry"; else
	fail "a refused token add creates no registry"; fi

# ---- storage errors: exit 2 ----------------------------------------------------------------

printf 'not a directory\n' >"$W/file"
run account add acme --data "$W/file"
if [ "$rc" = 2 ] && [ -s "$W/err" ]; then ok "account add into a data path that is a file: exit 2"; else
	fail "account add into a data path that is a file: exit 2" "$(show)"; fi
mkdir -p "$W/junk"
head -c 8192 /dev/urandom >"$W/junk/registry.sqlite"
run account list --data "$W/junk"
if [ "$rc" = 2 ] && [ -s "$W/err" ]; then ok "account list of a corrupt registry: exit 2"; else
	fail "account list of a corrupt registry: exit 2" "$(show)"; fi
run domain add x.example --account acme --data "$W/junk"
if [ "$rc" = 2 ] && [ -s "$W/err" ]; then ok "domain add to a corrupt registry: exit 2"; else
	fail "domain add to a corrupt registry: exit 2" "$(show)"; fi
run token list --data "$W/junk"
if [ "$rc" = 2 ] && [ -s "$W/err" ]; then ok "token list of a corrupt registry: exit 2"; else
	fail "token list of a corrupt registry: exit 2" "$(show)"; fi
run token add --admin --data "$W/junk"
if [ "$rc" = 2 ] && [ -s "$W/err" ] && [ ! -s "$W/out" ]; then
	ok "token add to a corrupt registry: exit 2, no token printed"
else
	fail "token add to a corrupt registry: exit 2, no token printed" "$(show)"
fi

# ---- nothing outside WORK_DIR -----------------------------------------------------------------

if [ ! -e "$W/var" ]; then ok "no ./var folder created in the current directory"; else
	fail "no ./var folder created in the current directory"; fi

finish
