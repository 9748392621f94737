#!/usr/bin/env bash
# Vendor the console's front-end libraries into the package from the npm registry, exactly as
# console/package-lock.json pins them (npm ci), with their licences. The built files are
# committed: installing Conveyor needs no Node.js. Run after changing console/package.json.
set -euo pipefail
cd "$(dirname "$0")/../console"
npm ci --no-audit --no-fund --ignore-scripts
vendor=../src/conveyor/console/static/vendor
mkdir -p "$vendor"
cp node_modules/echarts/dist/echarts.common.min.js "$vendor/echarts.min.js"
cp node_modules/echarts/LICENSE "$vendor/echarts.LICENSE"
version=$(node -p "require('./node_modules/echarts/package.json').version")
echo "echarts $version" > "$vendor/VERSIONS"
echo "vendored into $vendor: echarts $version"
