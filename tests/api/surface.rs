//! What shares the port with AuthService: health and reflection, and shutdown.

use authd::grpc::pb;
use tokio_stream::StreamExt as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::helpers::{Backend, PASSWORD, spawn_app};

on_both_backends!(
    health_reports_serving_for_the_server_and_auth_service,
    reflection_lists_every_service_in_both_versions,
    reflection_serves_the_proto_comments,
    shutdown_reports_not_serving_and_lets_in_flight_calls_finish,
);

async fn health_reports_serving_for_the_server_and_auth_service(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "auth.v1.AuthService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner();
        assert_eq!(
            response.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await;
    assert_eq!(
        unknown.expect_err("unknown service").code(),
        tonic::Code::NotFound
    );
}

async fn reflection_lists_every_service_in_both_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let expected = [
        "auth.v1.AuthService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    let v1 = crate::helpers::list_services(&app.channel).await;
    let v1alpha = crate::helpers::list_services_v1alpha(&app.channel).await;
    for name in expected {
        assert!(v1.iter().any(|n| n == name), "v1 lacks {name}: {v1:?}");
        assert!(
            v1alpha.iter().any(|n| n == name),
            "v1alpha lacks {name}: {v1alpha:?}"
        );
    }
}

async fn reflection_serves_the_proto_comments(backend: Backend) {
    use prost::Message as _;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app(backend).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "auth.v1.AuthService".into(),
        )),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream.next().await.expect("a response").expect("ok");
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let file = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("decode"))
        .find(|f| f.package() == "auth.v1")
        .expect("the auth.v1 file");
    let info = file.source_code_info.expect("source info with comments");
    let comments: String = info
        .location
        .iter()
        .filter_map(|l| l.leading_comments.clone())
        .collect();
    assert!(comments.contains("Exchanges a username"), "{comments}");
    assert!(
        comments.contains("An invalid token is an answer"),
        "{comments}"
    );
}

async fn shutdown_reports_not_serving_and_lets_in_flight_calls_finish(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.create_user("alice", &[]).await;
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "auth.v1.AuthService".into(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first: HealthCheckResponse = watch.next().await.expect("first").expect("ok");
    assert_eq!(first.status(), ServingStatus::Serving);

    // A login (an argon2 run) in flight when shutdown begins. Counted before
    // the login starts; once the count moves, the hash is running.
    let runs_before = app.hash_runs().await;
    let mut client = app.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .login(pb::LoginRequest {
                username: "alice".into(),
                password: PASSWORD.into(),
            })
            .await
    });
    let reached = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while app.hash_runs().await == runs_before {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the login reached the server");
    let server = app.begin_shutdown();

    let next = watch.next().await.expect("an update").expect("ok");
    assert_eq!(next.status(), ServingStatus::NotServing);
    drop(watch);
    drop(health);
    let login = in_flight.await.expect("task");
    assert!(login.is_ok(), "the in-flight login completes: {login:?}");
    server.await.expect("join").expect("clean stop");
}
