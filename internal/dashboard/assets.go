package dashboard

import "embed"

// assets is the built UI (web/, built by make web into assets/).
//
//go:embed all:assets
var assets embed.FS
