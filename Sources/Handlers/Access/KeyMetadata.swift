import FCGIRuntime
import GatewayCore

/// What a user may put in `metadata` of `POST /key/generate` (docs/security.md I3): labels
/// only. LiteLLM reads a key's metadata as settings of the key (callbacks and logging off,
/// guardrails, per-model limits, routing tags, budgets, trace requirements, ...) and the key is
/// minted with the master key, so every name LiteLLM or one of its hooks reads is refused, as
/// is every name under a prefix LiteLLM uses for settings (new LiteLLM versions add names).
///
/// A plain entry: a name of letters, digits, `_`, `-`, `.` starting with a letter (at most 64),
/// a value that is a string (at most 256 characters), a number, a boolean or null; at most 16.
enum KeyMetadata {
    static let maxEntries = 16
    static let maxValueLength = 256

    /// Names LiteLLM 1.108 reads from a key's metadata (proxy auth, pre-call utils, hooks,
    /// guardrails, logging), compared lowercased.
    static let settingNames: Set<String> = [
        "tags", "guardrails", "guardrail_config", "policies", "logging", "callbacks", "callback_settings",
        "success_callback", "failure_callback", "model_rpm_limit", "model_tpm_limit", "rpm_limit_type",
        "tpm_limit_type", "tag_rpm_limit", "tag_tpm_limit", "mcp_rpm_limit", "model_max_budget", "max_budget",
        "soft_budget", "max_parallel_requests", "global_max_parallel_requests", "priority", "enforced_params",
        "allowed_passthrough_routes", "allowed_vector_store_indexes", "allowed_routes", "disable_fallbacks",
        "enable_prompt_caching", "cache", "secret_manager_settings", "spend_logs_metadata", "team_member_budget_id",
        "temp_budget_increase", "temp_budget_expiry", "zguard_policy_id", "agent_id", "service_account_id",
        "prompt_id", "prompts", "model_config", "model_info", "permissions", "trace_id", "session_id",
        "require_trace_id", "max_iterations", "password_reset_required", "throttle_on_budget_exceeded",
        "soft_budget_alerting_emails", "scim_active", "requester_metadata", "fallbacks", "model_group",
        "mock_response", "headers", "user", "user_id", "team_id", "org_id", "organization_id", "end_user_id",
        "api_key", "api_base", "num_retries", "timeout", "stream_timeout", "pii_tokens",
    ]

    /// Prefixes of setting names (compared lowercased): every `litellm_*` and the families
    /// LiteLLM names its settings with.
    static let settingPrefixes = [
        "litellm", "user_api_key", "guardrail", "callback", "logging", "langfuse", "model_", "allow", "enforce",
        "disable", "enable", "opted_", "budget", "temp_budget", "mcp_", "secret", "spend", "tpm", "rpm", "tag_",
        "polic", "prompt", "cache", "team", "trace", "session", "max_", "soft_budget", "redact", "mask",
    ]

    /// The metadata LiteLLM receives (the same entries, in order), or 400: `field_not_allowed`
    /// naming `metadata.<name>` for a setting, `invalid_field` for anything not plain.
    static func check(_ value: JSON) throws(APIError) -> JSON {
        guard case .object(let entries) = value, entries.count <= maxEntries else {
            throw invalid("metadata", "must be an object of at most \(maxEntries) entries")
        }
        for (name, item) in entries {
            let field = "metadata.\(name)"
            if isSetting(name) {
                throw APIError(
                    400, .fieldNotAllowed,
                    "Field \"\(field)\" is not allowed: LiteLLM reads it as a key setting; metadata holds plain labels only",
                    [("field", .string(field))])
            }
            guard isPlainName(name) else { throw invalid(field, "name must be letters, digits, _ - . (at most 64)") }
            switch item {
            case .null, .bool, .int, .double: continue
            case .string(let text) where text.count <= maxValueLength: continue
            default: throw invalid(field, "value must be a string (at most \(maxValueLength)), number, boolean or null")
            }
        }
        return value
    }

    static func isSetting(_ name: String) -> Bool {
        let lower = name.lowercased()
        return settingNames.contains(lower) || settingPrefixes.contains { lower.hasPrefix($0) } || lower.hasPrefix("_")
    }

    static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 64 else { return false }
        let letter = { (byte: UInt8) in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
        }
        guard letter(first) else { return false }
        return name.utf8.allSatisfy { byte in
            letter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }

    static func invalid(_ field: String, _ reason: String) -> APIError {
        APIError(400, .invalidField, "Field \"\(field)\" has an invalid value: \(reason)", [("field", .string(field))])
    }
}
