#!/usr/bin/env bash
# Writes the IR UI tests: tests/fixtures/ir/mini.arch built by `archc build` (clean.yaml),
# then one hand edit per file, each named by its first line. Run from the repository root
# after a change to the IR's form, then bless the goldens (BLESS=1 cargo test ... ui_goldens).
set -euo pipefail
archc=${ARCHC:-target/release/archc}
dir=tests/ui/ir
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$archc" build tests/fixtures/ir/mini.arch -o "$tmp/mini" --no-svg >/dev/null
"$archc" build models/chameleon-7b.arch --smoke -o "$tmp/cham" --no-svg >/dev/null 2>&1
base="$tmp/mini/ir.yaml"
edit() { # NAME "COMMENT" SED-SCRIPT [BASE]
  { echo "# $2"; sed "$3" "${4:-$base}"; } > "$dir/$1.yaml"
}
edit clean "archc build of tests/fixtures/ir/mini.arch, unedited: clean, as its source is." ''
edit heads_zero "A head count of 0 (it panicked in run and train): A0204, at the value." '0,/heads: 2$/s//heads: 0/'
edit heads_three "3 heads with head_dim 8 in a width of 16: what the .arch checks say of it." '0,/heads: 2$/s//heads: 3/;0,/kv_heads: 2$/s//kv_heads: 3/'
edit vocab_huge "A vocabulary of 10^15 (it panicked): too many parameters, A0801." '0,/vocab: 32$/s//vocab: 1000000000000000/'
edit node_width_edited "A node's width that its layers do not give: A0008 at the width." '0,/  width: 16$/s//  width: 8/'
edit edge_width_edited "An edge's width that its nodes do not give: A0008." '110s/width: 16/width: 12/'
edit unknown_field "A field no reader knows (it was passed over): A0006 at the key." 's/^  rows: S_text$/  rows: S_text\n  colour: red/'
edit schema_two "Written for another IR schema: A0007." 's/^schema: 1$/schema: 2/'
edit edge_to_nothing "An edge to a node that does not exist: A0006." '0,/  to: 1$/s//  to: 99/'
edit key_twice "A key given twice in one map: A0006 at the second." 's/^model: mini$/model: mini\nmodel: again/'
{ echo "# Not a map of the IR's fields at all: A0006."; printf -- '- just\n- a list\n'; } > "$dir/not_a_map.yaml"
{ echo "# Cut off in the middle of a list: A0006 where the text ends."; head -40 "$base"; echo "  - ["; } > "$dir/truncated.yaml"
edit float_for_a_count "A float where a count belongs: A0006, at the value." '0,/max_len: 16$/s//max_len: 16.5/'
edit latent_rule_applies "Chameleon (smoke) without its allow(output_latent_sharing): the rule holds in an IR too (A0701)." '/^lints:/,/^masks:/{/^lints:/!{/^masks:/!d}};s/^lints:$/lints: []/' "$tmp/cham/ir.yaml"
