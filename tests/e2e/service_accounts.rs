//! Service accounts: a service token acts only as a registered, active account and only for the
//! departments the Chief allowed it, whatever its claims say; deactivation refuses its tokens at
//! once; an identity provider's client-credentials token acts as the account whose client ID is
//! its subject.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::Role;
use cityserve_proto::v1 as pb;
use tonic::Code;

fn card(parent: &str, id: &str) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        parent: format!("departments/{parent}"),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::CommentCard as i32,
            kind: pb::FeedbackKind::Suggestion as i32,
            text: "More benches".into(),
            ..Default::default()
        }),
        resident: None,
        request_id: id.into(),
        survey_token: String::new(),
        resolved: None,
    }
}

both_backends! {
    async fn a_service_token_acts_only_as_its_registered_account(app: &TestApp) {
        for d in ["water", "streets", "parks"] {
            create_department(app, d).await;
        }
        let mut feedback = app.feedback();
        // Signed, but no account: whatever departments it names, it is refused.
        let forged = token_for("crm", Role::Service, &["water", "parks"]);
        let e = feedback.submit_feedback(authed(card("water", "f-1"), &forged)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("not a registered service account"), "{e:?}");

        let crm = app.register_service("crm", &["water", "streets"], "").await;
        assert_eq!(crm.name, "serviceAccounts/crm");
        assert_eq!(crm.departments, ["departments/streets", "departments/water"]);
        assert_eq!(crm.state, pb::ServiceAccountState::Active as i32);
        let water = token_for("crm", Role::Service, &["water"]);
        feedback.submit_feedback(authed(card("water", "f-2"), &water)).await.expect("its own department");
        // A token claiming a department the account does not allow is refused as a whole.
        let e = feedback.submit_feedback(authed(card("water", "f-3"), &forged)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("may not act for departments/parks"), "{e:?}");
        // The audit trail names the account.
        let rows = app.rows_containing("crm").await;
        assert!(rows.iter().any(|(t, n)| t == "audit_log" && *n > 0), "audit rows name crm: {rows:?}");

        // The Chief grants Parks: the same token acts for it at once.
        let mut accounts = app.service_accounts();
        let grant = pb::UpdateServiceAccountRequest {
            service_account: Some(pb::ServiceAccount {
                name: crm.name.clone(),
                departments: vec!["departments/water".into(), "departments/parks".into()],
                etag: crm.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["departments".into()] }),
        };
        let granted = accounts.update_service_account(authed(grant, &chief())).await.unwrap().into_inner().service_account.unwrap();
        assert_eq!(granted.departments, ["departments/parks", "departments/water"]);
        assert_eq!(granted.display_name, crm.display_name, "only the masked field changes");
        feedback.submit_feedback(authed(card("parks", "f-4"), &forged)).await.expect("granted at once");

        // Deactivated: refused at once.
        let off = pb::DeactivateServiceAccountRequest { name: crm.name.clone(), etag: String::new() };
        let off = accounts.deactivate_service_account(authed(off, &chief())).await.unwrap().into_inner().service_account.unwrap();
        assert_eq!(off.state, pb::ServiceAccountState::Inactive as i32);
        let e = feedback.submit_feedback(authed(card("water", "f-5"), &water)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert!(e.message().contains("inactive"), "{e:?}");

        // Only the Chief registers; bad input is named by field; a client ID is one account's.
        let cso = app.cso("water").await;
        let r = |id: &str, departments: &[&str], client: &str| pb::CreateServiceAccountRequest {
            service_account_id: id.into(),
            service_account: Some(pb::ServiceAccount {
                display_name: "Work orders".into(),
                departments: departments.iter().map(|d| d.to_string()).collect(),
                client_id: client.into(),
                ..Default::default()
            }),
            request_id: format!("r-{id}-{client}"),
        };
        let e = accounts.create_service_account(authed(r("wo", &["departments/water"], ""), &cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        let e = accounts.create_service_account(authed(r("wo", &["departments/nowhere", "water"], ""), &chief())).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert_eq!(bad_fields(&e), ["service_account.departments[1]"]);
        let e = accounts.create_service_account(authed(r("wo", &["departments/nowhere"], ""), &chief())).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["service_account.departments[0]"], "{e:?}");
        accounts.create_service_account(authed(r("wo", &["departments/water"], "0oa-wo"), &chief())).await.unwrap();
        let e = accounts.create_service_account(authed(r("wo-2", &["departments/water"], "0oa-wo"), &chief())).await.unwrap_err();
        assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        let listed = accounts.list_service_accounts(authed(pb::ListServiceAccountsRequest::default(), &chief())).await.unwrap().into_inner();
        let names: Vec<_> = listed.service_accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["serviceAccounts/crm", "serviceAccounts/wo"]);
    }
}

/// An identity provider's client-credentials token acts as the account whose client ID is its
/// subject, for the account's departments only.
async fn a_client_credentials_token_acts_as_its_account(db: Db) {
    let key = crate::oidc::Key::es256("cc-1");
    let provider = crate::oidc::Provider::start(&[&key]).await;
    let issuer = provider.issuer.clone();
    let Some(app) = TestApp::start_with(db, |c| {
        c.oidc_issuer = issuer;
        c.oidc_audience = crate::oidc::CLIENT_ID.into();
    })
    .await
    else {
        return;
    };
    create_department(&app, "water").await;
    create_department(&app, "parks").await;
    app.register_service("crm", &["water"], "0oa-crm-client").await;
    let mut feedback = app.feedback();
    let token = key.sign(&provider.claims("0oa-crm-client"));
    feedback.submit_feedback(authed(card("water", "cc-1"), &token)).await.expect("acts for its department");
    let e = feedback.submit_feedback(authed(card("parks", "cc-2"), &token)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "not a department it acts for: {e:?}");
    let stranger = key.sign(&provider.claims("0oa-unregistered"));
    let e = feedback.submit_feedback(authed(card("water", "cc-3"), &stranger)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_credentials_token_acts_as_its_account_sqlite() {
    a_client_credentials_token_acts_as_its_account(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_credentials_token_acts_as_its_account_postgres() {
    a_client_credentials_token_acts_as_its_account(Db::Postgres).await;
}
