// Package natsconf holds the NATS server configuration the project ships:
// auth.conf (the worker, requester, reader and operator roles) and
// cluster.conf (a JetStream cluster node that fsyncs before it
// acknowledges). Its one piece of code embeds auth.conf for the worker's
// embedded server (internal/natsserver); its tests run a real NATS server with
// these files and prove what each role can and cannot do, the real worker
// included.
package natsconf
