#!/bin/bash
# contrib_promtool_rules: the alert rules are valid and their unit tests pass
# (every alert firing and not firing), and the example prometheus.yml loads
# them.
#
#   tests/contrib/promtool_rules.sh SOURCE_DIR
set -euo pipefail
dir=$1/contrib/prometheus
cd "$dir"
promtool check rules rtrace-drop.rules.yml
promtool test rules rtrace-drop.rules.test.yml
# file_sd's target folder does not exist here: a warning, not an error.
promtool check config prometheus.yml
