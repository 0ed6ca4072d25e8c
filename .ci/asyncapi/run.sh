#!/usr/bin/env bash
# CI check of schemas/asyncapi.yaml with the real AsyncAPI parser.
# Needs Node.js >= 18 and npm. Usage: bash .ci/asyncapi/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --ignore-scripts --no-audit --no-fund || npm install --ignore-scripts --no-audit --no-fund
node validate.mjs "$@"
