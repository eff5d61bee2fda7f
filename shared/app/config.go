package app

// Keys of ConfigMap piyasa-config.
const (
	KeyDatabaseURL             = "DATABASE_URL"
	KeyRedisURL                = "REDIS_URL"
	KeyLLMProvider             = "LLM_PROVIDER"
	KeyLLMModel                = "LLM_MODEL"
	KeyTelegramAPIBase         = "TELEGRAM_API_BASE"
	KeyTelegramTimeout         = "TELEGRAM_TIMEOUT"
	KeyLogLevel                = "LOG_LEVEL"
	KeyPort                    = "PORT"
	KeyTotalWorkers            = "TOTAL_WORKERS"
	KeyDashboardStreamInterval = "DASHBOARD_STREAM_INTERVAL"
	KeyDashboardStreamMaxMsgs  = "DASHBOARD_STREAM_MAX_MESSAGES"
	KeyCacheL1MaxSize          = "CACHE_L1_MAX_SIZE"
	KeyPrometheusEnabled       = "PROMETHEUS_ENABLED"
	KeyPrometheusPort          = "PROMETHEUS_PORT"
)

// ConfigKeys lists every key of piyasa-config.
var ConfigKeys = []string{
	KeyDatabaseURL, KeyRedisURL, KeyLLMProvider, KeyLLMModel, KeyTelegramAPIBase, KeyTelegramTimeout,
	KeyLogLevel, KeyPort, KeyTotalWorkers, KeyDashboardStreamInterval, KeyDashboardStreamMaxMsgs,
	KeyCacheL1MaxSize, KeyPrometheusEnabled, KeyPrometheusPort,
}

// Keys of Secret piyasa-secrets (made from the user's .env file).
const (
	KeyOpenAIAPIKey          = "OPENAI_API_KEY"
	KeyGroqAPIKey            = "GROQ_API_KEY"
	KeyGeminiAPIKey          = "GEMINI_API_KEY"
	KeyAPIKey                = "API_KEY"
	KeyTokenEncryptionKey    = "TOKEN_ENCRYPTION_KEY"
	KeyDatabasePassword      = "DATABASE_PASSWORD"
	KeyDefaultAdminUsername  = "DEFAULT_ADMIN_USERNAME"
	KeyDefaultAdminPassword  = "DEFAULT_ADMIN_PASSWORD"
	KeyDefaultAdminAPIKey    = "DEFAULT_ADMIN_API_KEY"
	KeyDefaultAdminMFASecret = "DEFAULT_ADMIN_MFA_SECRET"
)

// RequiredSecretKeys must be present in every .env; one LLM key is required in
// addition, chosen by LLM_PROVIDER (see LLMProviderKeys).
var RequiredSecretKeys = []string{
	KeyAPIKey, KeyTokenEncryptionKey, KeyDatabasePassword, KeyDefaultAdminUsername,
	KeyDefaultAdminPassword, KeyDefaultAdminAPIKey, KeyDefaultAdminMFASecret,
}

// LLMProviderKeys maps each LLM_PROVIDER value to the Secret key it needs.
var LLMProviderKeys = map[string]string{
	"openai": KeyOpenAIAPIKey,
	"groq":   KeyGroqAPIKey,
	"gemini": KeyGeminiAPIKey,
}

// DefaultLLMProvider is the provider set in the base ConfigMap.
const DefaultLLMProvider = "openai"

// DefaultAdminPassword is the guide's sample password, refused in prod.
const DefaultAdminPassword = "change-me-in-production"

// PlaceholderValues are the guide's sample .env values, refused in prod.
var PlaceholderValues = []string{
	"sk-your-openai-key-here", "gsk_your-groq-key-here", "AIza_your-gemini-key-here",
	"your-master-api-key", "your-fernet-encryption-key", "strong-postgres-password",
	DefaultAdminPassword, "admin-api-key-here", "your-totp-secret",
}

// Database facts: database piyasa_db, user piyasa_user.
const (
	DatabaseName = "piyasa_db"
	DatabaseUser = "piyasa_user"
	PostgresPVC  = "postgres-pvc"
	RedisPVC     = "redis-data"
)
