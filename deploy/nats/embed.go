package natsconf

import _ "embed"

// AuthConf is auth.conf as shipped: the worker's embedded NATS server
// (internal/natsserver) takes its roles' permissions from it, so the
// local default and a production server grant the same.
//
//go:embed auth.conf
var AuthConf string
