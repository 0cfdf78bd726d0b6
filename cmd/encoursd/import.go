package main

import (
	"log/slog"

	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/ingest"
)

// importRoutes mounts POST /v1/import (handlers/ingest) behind the API's authentication,
// error shape and description. Its partition files go to the system's temporary directory.
func importRoutes(svc *command.Service, logger *slog.Logger) []httpapi.Extra {
	var out []httpapi.Extra
	for _, r := range ingest.NewHTTP(svc, httpapi.ActorOf, logger, "").Routes() {
		out = append(out, httpapi.Extra{Pattern: r.Pattern, Permission: r.Permission, Handler: r.Handler,
			Summary: r.Summary, Tag: "import", Query: r.Query})
	}
	return out
}
