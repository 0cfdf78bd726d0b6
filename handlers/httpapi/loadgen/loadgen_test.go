package loadgen

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// server answers by path: /len a Content-Length body echoing the request, /chunked a chunked
// body, /close a body and Connection: close, /bad a 422. It counts the connections opened.
func server(t *testing.T) (addr string, conns *atomic.Int64) {
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo := r.Method + " " + r.Header.Get("Idempotency-Key") + " " + r.Header.Get("Authorization") + " " +
			r.Header.Get("Content-Type") + " " + string(body)
		switch r.URL.Path {
		case "/len":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, echo)
		case "/chunked":
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "part one;")
			w.(http.Flusher).Flush()
			io.WriteString(w, strings.Repeat("x", 5000))
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"code":"invalid"}`)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

func TestPostKeepsTheConnectionAndReadsEachFraming(t *testing.T) {
	addr, conns := server(t)
	c, err := Dial(addr, 5*time.Second, "Authorization", "Bearer t0k")
	require.NoError(t, err)
	defer c.Close()

	for i, key := range []string{"k1", "k2", "k3"} {
		status, body, err := c.Post("/len", key, []byte(`{"n":`+string(rune('0'+i))+`}`))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, status)
		require.Equal(t, "POST "+key+" Bearer t0k application/json {\"n\":"+string(rune('0'+i))+"}", string(body))
	}
	status, body, err := c.Post("/chunked", "", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "part one;"+strings.Repeat("x", 5000), string(body))

	status, body, err = c.Post("/bad", "", []byte("{}"))
	require.NoError(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.JSONEq(t, `{"code":"invalid"}`, string(body))
	require.EqualValues(t, 1, conns.Load(), "one keep-alive connection for every request")

	// A server that closes the connection: the answer is read, the next request reconnects.
	status, body, err = c.Post("/close", "", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "bye", string(body))
	status, _, err = c.Post("/len", "k4", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status)
	require.EqualValues(t, 2, conns.Load())
}

func TestMalformedAnswersAreErrors(t *testing.T) {
	for name, answer := range map[string]string{
		"status line":    "HTTP/1.1 2x1 Created\r\n\r\n",
		"not http":       "SSH-2.0-OpenSSH\r\n\r\n",
		"content length": "HTTP/1.1 201 Created\r\nContent-Length: -3\r\n\r\n",
		"encoding":       "HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip\r\n\r\n",
		"chunk size":     "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"short body":     "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 4096)
				conn.Read(buf)
				io.WriteString(conn, answer)
				conn.Close()
			}()
			c, err := Dial(ln.Addr().String(), 5*time.Second)
			require.NoError(t, err)
			_, _, err = c.Post("/x", "", []byte("{}"))
			require.Error(t, err)
		})
	}
}

func TestDialWantsHeaderPairs(t *testing.T) {
	_, err := Dial("127.0.0.1:1", time.Second, "Authorization")
	require.Error(t, err)
}
