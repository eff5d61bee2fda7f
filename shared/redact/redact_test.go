package redact

import (
	"strings"
	"testing"
)

func TestSensitiveKeys(t *testing.T) {
	for _, k := range []string{"DATABASE_PASSWORD", "API_KEY", "TOKEN_ENCRYPTION_KEY", "DEFAULT_ADMIN_MFA_SECRET", "OPENAI_API_KEY", "db_pwd", "key"} {
		if !SensitiveKey(k) {
			t.Errorf("%s not sensitive", k)
		}
	}
	for _, k := range []string{"LOG_LEVEL", "TOTAL_WORKERS", "CACHE_L1_MAX_SIZE", "LLM_MODEL", "TELEGRAM_TIMEOUT", "DATABASE_URL", "PORT", "ca.crt"} {
		if SensitiveKey(k) {
			t.Errorf("%s sensitive", k)
		}
	}
}

func TestValueAndLine(t *testing.T) {
	cases := map[string]string{
		"postgresql://piyasa_user:hunter2@db-service:5432/piyasa_db": "postgresql://piyasa_user:REDACTED@db-service:5432/piyasa_db",
		"DEBUG": "DEBUG",
		"2":     "2",
	}
	for in, want := range cases {
		if got := Value("DATABASE_URL", in); got != want {
			t.Errorf("Value(%q) = %q, want %q", in, got, want)
		}
	}
	if Value("X", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg==") != Mask {
		t.Error("opaque value kept")
	}
	if URLPassword("postgresql://u:$(DATABASE_PASSWORD)@h/db") {
		t.Error("env reference taken for a password")
	}
	line := `openai.AuthenticationError: 401 Incorrect API key provided: sk-abcdefghijklmnop1234; password=s3cr3t`
	got := Line(line)
	if strings.Contains(got, "sk-abcdefghijklmnop1234") || strings.Contains(got, "s3cr3t") || !strings.Contains(got, "401") {
		t.Errorf("Line: %q", got)
	}
}

func TestScrubber(t *testing.T) {
	s := NewScrubber("my-planted-secret", "ab")
	got := s.Scrub("value my-planted-secret and bXktcGxhbnRlZC1zZWNyZXQ= and ab")
	if strings.Contains(got, "my-planted-secret") || strings.Contains(got, "bXktcGxhbnRlZC1zZWNyZXQ") {
		t.Errorf("scrub: %q", got)
	}
	if !strings.HasSuffix(got, "and ab") {
		t.Errorf("short value masked: %q", got)
	}
}
