package sim

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAdminGrantRevokeAndRestore(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.SeedDemo()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, step := range []struct {
		path       string
		authorized bool
	}{{"/grant/revoke", false}, {"/grant/restore", true}} {
		resp, err := http.Post(srv.URL+"/admin/accounts/"+DemoAB+step.path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", step.path, resp.StatusCode)
		}
		a, _ := s.Account(DemoAB)
		if a.Unauthorized == step.authorized {
			t.Errorf("after %s: unauthorized = %v", step.path, a.Unauthorized)
		}
	}
	if resp, _ := http.Post(srv.URL+"/admin/accounts/165566778899/grant/revoke", "application/json", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown account: status %d", resp.StatusCode)
	}
}
