package redact

import (
	"strings"
	"testing"
)

func TestSensitiveKeys(t *testing.T) {
	for _, k := range []string{"DATABASE_PASSWORD", "API_KEY", "TOKEN_ENCRYPTION_KEY", "DEFAULT_ADMIN_MFA_SECRET", "OPENAI_API_KEY", "db_pwd", "key",
		"DB_PASSWD", "SMTP_PASS", "PASS", "AWS_ACCESS_KEY_ID", "aws_secret_access_key", "LLM_CREDENTIALS", "CACHE_AUTH"} {
		if !SensitiveKey(k) {
			t.Errorf("%s not sensitive", k)
		}
	}
	for _, k := range []string{"LOG_LEVEL", "TOTAL_WORKERS", "CACHE_L1_MAX_SIZE", "LLM_MODEL", "TELEGRAM_TIMEOUT", "DATABASE_URL", "PORT", "ca.crt",
		"PASSTHROUGH_MODE", "COMPASS_URL", "BYPASS_CACHE", "CORS_ALLOWED_ORIGINS", "DASHBOARD_STREAM_MAX_MESSAGES"} {
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

// TestSensitiveEntry: the entries issue 16 #14 found accepted into a
// ConfigMap are secret-looking, ordinary configuration is not.
func TestSensitiveEntry(t *testing.T) {
	for _, kv := range [][2]string{
		{"DB_PASSWD", "x"}, {"SMTP_PASS", "x"}, {"AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"},
		{"ID", "AKIAIOSFODNN7EXAMPLE"}, {"WEBHOOK", "https://user:pw@hook.example.com/x"},
		{"NOTE", "sk-proj-abcdefghijklmnopqrstuvwxyz123456"}, {"LLM_CREDENTIALS", "x"},
		{"DATABASE_URL", "postgresql://piyasa_user:hunter2@db:5432/piyasa_db"},
	} {
		if !SensitiveEntry(kv[0], kv[1]) {
			t.Errorf("%s=... not sensitive", kv[0])
		}
	}
	for _, kv := range [][2]string{
		{"LOG_LEVEL", "DEBUG"}, {"LLM_MODEL", "gpt-4o"}, {"TOTAL_WORKERS", "3"},
		{"DATABASE_URL", "postgresql://piyasa_user:$(DATABASE_PASSWORD)@dev-db-service:5432/piyasa_db"},
		{"REDIS_URL", "redis://dev-redis-service:6379/0"}, {"CORS_ALLOWED_ORIGINS", "https://app.example.com,https://x.example.com"},
		{"TELEGRAM_API_BASE", "https://api.telegram.org"},
	} {
		if SensitiveEntry(kv[0], kv[1]) {
			t.Errorf("%s=%s sensitive", kv[0], kv[1])
		}
	}
}
