//! The two Services. The headless one gives every pod a stable DNS name (the advertise
//! addresses) and publishes not-ready pods, because a broker waiting to be admitted is not
//! ready yet must still be reachable by its peers and the operator. The client Service only
//! routes to ready brokers. Ports equal target ports (port-mapping-free environments work).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{object_meta, selector_labels, Names, API_PORT, RAFT_PORT, SERVICE_ROLE_LABEL};
use crate::crd::JumpnetCluster;

fn service_port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    }
}

/// The client-facing ports: `http` 9090, and `kafka` (9093) with `spec.kafka.enabled`.
fn client_ports(jc: &JumpnetCluster) -> Vec<ServicePort> {
    let mut ports = vec![service_port("http", API_PORT)];
    if jc.spec.kafka.enabled {
        ports.push(service_port("kafka", jc.spec.kafka.port));
    }
    ports
}

/// Headless Service `NAME-headless`: raft 8080, http 9090 (and kafka), `publishNotReadyAddresses`.
pub fn headless_service(jc: &JumpnetCluster, names: &Names) -> Service {
    let mut metadata = object_meta(jc, names, names.headless());
    if let Some(labels) = metadata.labels.as_mut() {
        labels.insert(SERVICE_ROLE_LABEL.into(), "headless".into());
    }
    Service {
        metadata,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(&names.name)),
            ports: Some(
                std::iter::once(service_port("raft", RAFT_PORT))
                    .chain(client_ports(jc))
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Client Service `NAME`: port `http` 9090 (and `kafka`), type and annotations from `spec.service`.
pub fn client_service(jc: &JumpnetCluster, names: &Names) -> Service {
    let mut metadata = object_meta(jc, names, names.name.clone());
    if let Some(labels) = metadata.labels.as_mut() {
        labels.insert(SERVICE_ROLE_LABEL.into(), "client".into());
    }
    let annotations = &jc.spec.service.annotations;
    metadata.annotations = (!annotations.is_empty()).then(|| annotations.clone());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(jc.spec.service.type_.as_str().into()),
            selector: Some(selector_labels(&names.name)),
            ports: Some(client_ports(jc)),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::cluster;

    fn names() -> Names {
        Names::of(&cluster(""), "cluster.local").unwrap()
    }

    #[test]
    fn headless_service_publishes_not_ready_pods_on_both_ports() {
        let svc = headless_service(&cluster(""), &names());
        assert_eq!(svc.metadata.name.as_deref(), Some("demo-headless"));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        assert_eq!(spec.selector.unwrap(), selector_labels("demo"));
        let ports: Vec<_> = spec
            .ports
            .unwrap()
            .into_iter()
            .map(|p| (p.name.unwrap(), p.port, p.target_port.unwrap()))
            .collect();
        assert_eq!(
            ports,
            [
                ("raft".to_string(), 8080, IntOrString::Int(8080)),
                ("http".to_string(), 9090, IntOrString::Int(9090))
            ]
        );
    }

    #[test]
    fn kafka_adds_its_port_to_both_services() {
        let port_names = |svc: Service| -> Vec<(String, i32)> {
            svc.spec
                .unwrap()
                .ports
                .unwrap()
                .into_iter()
                .map(|p| (p.name.unwrap(), p.port))
                .collect()
        };
        let jc = cluster("kafka: {enabled: true}");
        assert_eq!(
            port_names(client_service(&jc, &names())),
            [("http".to_string(), 9090), ("kafka".to_string(), 9093)]
        );
        assert_eq!(
            port_names(headless_service(&jc, &names())).last().unwrap(),
            &("kafka".to_string(), 9093)
        );
        let jc = cluster("kafka: {enabled: true, port: 19092}");
        assert_eq!(
            port_names(client_service(&jc, &names()))[1],
            ("kafka".to_string(), 19092)
        );
        assert_eq!(port_names(client_service(&cluster(""), &names())).len(), 1);
    }

    #[test]
    fn client_service_has_http_9090_type_and_annotations() {
        let jc = cluster("service: {type: LoadBalancer, annotations: {lb: internal}}");
        let svc = client_service(&jc, &names());
        assert_eq!(svc.metadata.name.as_deref(), Some("demo"));
        assert_eq!(svc.metadata.annotations.unwrap()["lb"], "internal");
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(
            spec.publish_not_ready_addresses, None,
            "clients only reach ready brokers"
        );
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.name.as_deref(), Some("http"));
        assert_eq!(port.port, 9090);
        assert_eq!(port.target_port, Some(IntOrString::Int(9090)));
    }
}
