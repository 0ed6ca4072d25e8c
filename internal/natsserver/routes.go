package natsserver

import (
	"fmt"
	"net/url"
)

func routeURLs(routes []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(routes))
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil {
			return nil, fmt.Errorf("natsserver: route %q: %w", r, err)
		}
		out = append(out, u)
	}
	return out, nil
}
