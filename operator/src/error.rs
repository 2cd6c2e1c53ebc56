//! The crate's one error type. Each variant carries what was being done, so a log line or a
//! status message says which object or broker call failed; [`Error::metric_label`] turns it
//! into the bounded `error` label of `jumpnet_operator_reconcile_errors_total`.

/// Everything that can go wrong in the operator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },

    /// The broker answered with an error document (SPEC §3 `{"error":{"code","message"}}`).
    #[error("broker {pod}: {op} answered {status} {code}: {message}")]
    BrokerApi {
        pod: String,
        op: &'static str,
        status: u16,
        code: String,
        message: String,
    },

    /// No usable answer from the broker (connection refused, timeout, unparsable body).
    #[error("broker {pod}: {op}: {reason}")]
    BrokerUnreachable {
        pod: String,
        op: &'static str,
        reason: String,
    },

    #[error("JumpnetCluster {name} is invalid: {reason}")]
    InvalidSpec { name: String, reason: String },

    #[error("JumpnetCluster has no {field}")]
    MissingObjectKey { field: &'static str },

    #[error("encoding JSON: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },

    #[error("encoding YAML: {source}")]
    Yaml {
        #[source]
        source: serde_yaml::Error,
    },

    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("metrics: {source}")]
    Metrics {
        #[source]
        source: prometheus::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A small fixed set of values, safe as a Prometheus label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube { .. } => "kube",
            Self::BrokerApi { .. } => "broker_api",
            Self::BrokerUnreachable { .. } => "broker_unreachable",
            Self::InvalidSpec { .. } => "invalid_spec",
            Self::MissingObjectKey { .. } => "missing_object_key",
            Self::Json { .. } | Self::Yaml { .. } => "encoding",
            Self::Io { .. } => "io",
            Self::Metrics { .. } => "metrics",
        }
    }

    /// The broker's stable error code, when the broker answered with one.
    pub fn broker_code(&self) -> Option<&str> {
        match self {
            Self::BrokerApi { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Wraps a kube error with what was being attempted.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube { action, source }
    }

    /// True when the API server answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Kube { source: kube::Error::Api(s), .. } if s.code == 404)
    }

    /// One line for a status condition: what was being done and, for an API server's refusal, its
    /// own words (`configmaps "x" is forbidden: User "..." cannot patch ...`), without the debug dump.
    pub fn summary(&self) -> String {
        match self {
            Self::Kube {
                action,
                source: kube::Error::Api(s),
            } => format!("{action}: {} ({} {})", s.message, s.code, s.reason),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_stable_snake_case() {
        let e = Error::BrokerApi {
            pod: "demo-0".into(),
            op: "promote",
            status: 409,
            code: "learner_lagging".into(),
            message: "behind".into(),
        };
        assert_eq!(e.metric_label(), "broker_api");
        assert_eq!(e.broker_code(), Some("learner_lagging"));
        assert!(e.to_string().contains("demo-0"));
        assert_eq!(e.summary(), e.to_string());
    }

    #[test]
    fn api_refusals_are_summarised_in_the_api_servers_words() {
        let status = kube::core::Status {
            code: 403,
            message: "configmaps \"demo-config\" is forbidden: User \"system:serviceaccount:op:op\" cannot patch resource \"configmaps\"".into(),
            reason: "Forbidden".into(),
            ..Default::default()
        };
        let e = Error::Kube {
            action: "apply ConfigMap demo-config".into(),
            source: kube::Error::Api(Box::new(status)),
        };
        assert_eq!(
            e.summary(),
            "apply ConfigMap demo-config: configmaps \"demo-config\" is forbidden: User \"system:serviceaccount:op:op\" cannot patch resource \"configmaps\" (403 Forbidden)"
        );
    }
}
