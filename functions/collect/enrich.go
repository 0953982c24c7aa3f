package main

import (
	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/enrich"
	"github.com/dcrm-project/dcrm/shared/source"
	"github.com/dcrm-project/dcrm/shared/useragent"
)

// edge enriches accepted events before they go on the stream. It holds no client, only a cache of
// parsed user agents, so one serves every invocation of a warm function.
var edge = enrich.New(useragent.New(useragent.DefaultCacheSize))

// enrich records on each event what the request tells about it (truncated address, device, bot
// verdict, campaign, channel, linker hint) and hashes its personal data, removing the raw values
// unless the source keeps them (package enrich).
func (h *handler) enrich(req events.APIGatewayV2HTTPRequest, src source.Source, evs []beacon.Event) {
	ua := header(req, "User-Agent")
	if ua == "" {
		ua = req.RequestContext.HTTP.UserAgent
	}
	edge.Events(evs, enrich.Request{Source: src, SourceIP: req.RequestContext.HTTP.SourceIP, UserAgent: ua})
}
