package sim

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/skattekonto-events/skattekonto-events/internal/contract"
)

// PathPlaceholder marks where the identity number goes in a path template.
const PathPlaceholder = "{omfragad}"

// DefaultPaths are the operations' path templates below APIPrefix, as the
// client guesses them. Config.Paths, SetPath and the admin settings serve
// an operation under another path instead.
var DefaultPaths = map[string]string{
	OpSaldo:               "/skattekonton/{omfragad}/saldo",
	OpTransaktioner:       "/skattekonton/{omfragad}/transaktioner",
	OpUtbetalningskonto:   "/skattekonton/{omfragad}/utbetalningskonto",
	OpUtbetalningssparrar: "/skattekonton/{omfragad}/utbetalningssparrar",
}

// apiOps are the four operations in the order routes are matched.
var apiOps = contract.Operations()

// route is a path template split around its placeholder.
type route struct {
	template, prefix, suffix string
}

func parseRoute(t string) (route, error) {
	switch {
	case !strings.HasPrefix(t, "/"):
		return route{}, fmt.Errorf("%w: path %q does not start with /", ErrInvalid, t)
	case strings.Count(t, PathPlaceholder) != 1:
		return route{}, fmt.Errorf("%w: path %q must hold %s once", ErrInvalid, t, PathPlaceholder)
	case strings.ContainsAny(t, "?#% \t\r\n") || strings.Contains(t, "//") || strings.Contains(t, "/../") ||
		strings.HasSuffix(t, "/.."):
		return route{}, fmt.Errorf("%w: path %q is not a plain path", ErrInvalid, t)
	}
	prefix, suffix, _ := strings.Cut(t, PathPlaceholder)
	return route{template: t, prefix: prefix, suffix: suffix}, nil
}

// match returns the identity number when p (below APIPrefix) fits r.
func (r route) match(p string) (string, bool) {
	if len(p) <= len(r.prefix)+len(r.suffix) || !strings.HasPrefix(p, r.prefix) || !strings.HasSuffix(p, r.suffix) {
		return "", false
	}
	id := p[len(r.prefix) : len(p)-len(r.suffix)]
	return id, !strings.Contains(id, "/")
}

// setRoutes replaces the routes of the operations in paths ("" restores an
// operation's default), checking that no two operations share a path.
// Called with s.mu held.
func (s *Sim) setRoutes(paths map[string]string) error {
	next := maps.Clone(s.routes)
	for op, t := range paths {
		if _, ok := DefaultPaths[op]; !ok {
			return fmt.Errorf("%w: unknown operation %q", ErrInvalid, op)
		}
		if t == "" {
			t = DefaultPaths[op]
		}
		r, err := parseRoute(t)
		if err != nil {
			return fmt.Errorf("operation %s: %w", op, err)
		}
		next[op] = r
	}
	seen := map[string]string{}
	for _, op := range apiOps {
		if other, dup := seen[next[op].template]; dup {
			return fmt.Errorf("%w: %s and %s would share the path %s", ErrInvalid, other, op, next[op].template)
		}
		seen[next[op].template] = op
	}
	s.routes = next
	return nil
}

// SetPath serves op under template (below APIPrefix, holding {omfragad});
// "" restores the default. The old path then answers 404 without a felkod,
// as a path that does not exist does.
func (s *Sim) SetPath(op, template string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setRoutes(map[string]string{op: template})
}

// ResetPaths serves every operation under its default path.
func (s *Sim) ResetPaths() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = defaultRoutes()
}

// Paths returns the path template of every operation.
func (s *Sim) Paths() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.routes))
	for op, r := range s.routes {
		out[op] = r.template
	}
	return out
}

func defaultRoutes() map[string]route {
	m := make(map[string]route, len(DefaultPaths))
	for op, t := range DefaultPaths {
		m[op], _ = parseRoute(t)
	}
	return m
}

// routeAPI finds the operation and identity number of a path below
// APIPrefix.
func (s *Sim) routeAPI(p string) (op, omf string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range apiOps {
		if id, ok := s.routes[op].match(p); ok {
			return op, id, true
		}
	}
	return "", "", false
}

// SetQuietUpcoming makes adding, changing and withdrawing upcoming rows
// leave senastUppdaterad as it was (true), or move it as every other
// change does (false, the default). The service description does not
// promise that a new decision on an upcoming row moves senastUppdaterad;
// this switch lets a client find out whether it depends on it.
func (s *Sim) SetQuietUpcoming(quiet bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quietUpcoming = quiet
}

// WindowMode says when the simulated service window is closed.
type WindowMode string

// The service window modes.
const (
	WindowOff   WindowMode = "off"   // always open (the default)
	WindowClock WindowMode = "clock" // closed in contract.InServiceWindow (03:00–05:00 Swedish time) on the simulator's clock
	WindowOn    WindowMode = "on"    // closed now, whatever the time
)

// ServiceWindow simulates the nightly service window. The service
// description says only that the service is closed 03:00–05:00; it does
// not say how calls are answered then. The default answer is felkod 5
// ("Skattekontot är stängt", HTTP 503); Kind may instead be http503 (a
// gateway 503 without felkod), felkod with Felkod 4 (HTTP 500) or hang
// (no answer until the client gives up). The token endpoint stays open.
type ServiceWindow struct {
	Mode   WindowMode `json:"mode"`
	Kind   FaultKind  `json:"kind,omitempty"`
	Felkod int        `json:"felkod,omitempty"`
}

// Validate reports whether w is well-formed.
func (w ServiceWindow) Validate() error {
	switch w.Mode {
	case "", WindowOff, WindowClock, WindowOn:
	default:
		return fmt.Errorf("%w: service window mode %q is not off, clock or on", ErrInvalid, w.Mode)
	}
	switch w.Kind {
	case "", FaultHTTP503, FaultHang:
	case FaultFelkod:
		if w.Felkod != 0 && w.Felkod != 4 && w.Felkod != 5 {
			return fmt.Errorf("%w: service window felkod %d is not 4 or 5", ErrInvalid, w.Felkod)
		}
	default:
		return fmt.Errorf("%w: service window answer %q is not felkod, http503 or hang", ErrInvalid, w.Kind)
	}
	return nil
}

func (w ServiceWindow) withDefaults() ServiceWindow {
	if w.Mode == "" {
		w.Mode = WindowOff
	}
	if w.Kind == "" {
		w.Kind = FaultFelkod
	}
	if w.Kind == FaultFelkod && w.Felkod == 0 {
		w.Felkod = 5
	}
	if w.Kind != FaultFelkod {
		w.Felkod = 0
	}
	return w
}

// SetServiceWindow sets the simulated service window.
func (s *Sim) SetServiceWindow(w ServiceWindow) error {
	if err := w.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.window = w.withDefaults()
	return nil
}

// windowClosed returns the window when a call now meets a closed service.
func (s *Sim) windowClosed() (ServiceWindow, bool) {
	s.mu.Lock()
	w := s.window
	s.mu.Unlock()
	switch w.Mode {
	case WindowOn:
		return w, true
	case WindowClock:
		return w, contract.InServiceWindow(s.now())
	}
	return w, false
}

// serveWindow answers a call that met the closed service window; it
// returns the status written, 0 when the call was abandoned.
func (s *Sim) serveWindow(ctx context.Context, w http.ResponseWriter, win ServiceWindow) int {
	switch win.Kind {
	case FaultHang:
		<-ctx.Done()
		return 0
	case FaultHTTP503:
		writeJSON(w, http.StatusServiceUnavailable, gatewayError{Error: "Service unavailable"})
		return http.StatusServiceUnavailable
	}
	st, b := felkodBody(win.Felkod)
	writeBody(w, st, b)
	return st
}

// Settings are the simulator's switches, as the admin API shows them.
type Settings struct {
	// Paths are the operations' path templates below APIPrefix.
	Paths map[string]string `json:"paths"`
	// QuietUpcoming: changes to upcoming rows leave senastUppdaterad as
	// it was (see SetQuietUpcoming).
	QuietUpcoming bool          `json:"quietUpcoming"`
	ServiceWindow ServiceWindow `json:"serviceWindow"`
}

// SettingsPatch changes some settings: absent fields stay as they are,
// and a path "" restores that operation's default.
type SettingsPatch struct {
	Paths         map[string]string `json:"paths,omitempty"`
	QuietUpcoming *bool             `json:"quietUpcoming,omitempty"`
	ServiceWindow *ServiceWindow    `json:"serviceWindow,omitempty"`
}

// Settings returns the current settings.
func (s *Sim) Settings() Settings {
	paths := s.Paths()
	s.mu.Lock()
	defer s.mu.Unlock()
	return Settings{Paths: paths, QuietUpcoming: s.quietUpcoming, ServiceWindow: s.window}
}

// UpdateSettings applies p, all of it or (on error) none of it.
func (s *Sim) UpdateSettings(p SettingsPatch) error {
	if p.ServiceWindow != nil {
		if err := p.ServiceWindow.Validate(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.setRoutes(p.Paths); err != nil {
		return err
	}
	if p.QuietUpcoming != nil {
		s.quietUpcoming = *p.QuietUpcoming
	}
	if p.ServiceWindow != nil {
		s.window = p.ServiceWindow.withDefaults()
	}
	return nil
}
