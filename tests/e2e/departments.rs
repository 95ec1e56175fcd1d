//! Departments: CRUD, pagination, idempotency, optimistic concurrency, tenant isolation.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use tonic::Code;

both_backends! {
    async fn crud_and_pagination_across_pages(app: &TestApp) {
        let mut client = app.departments();
        for id in ["parks", "revenue", "sanitation", "streets", "water"] {
            create_department(app, id).await;
        }
        let got = client
            .get_department(authed(pb::GetDepartmentRequest { name: "departments/water".into() }, &chief()))
            .await
            .unwrap()
            .into_inner()
            .department
            .unwrap();
        assert_eq!(got.display_name, "Department of water");
        assert_eq!(got.status, pb::DepartmentStatus::Active as i32);
        assert_eq!(got.default_targets.unwrap().acknowledge_within.unwrap().seconds, 86_400, "server default");

        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = client
                .list_departments(authed(
                    pb::ListDepartmentsRequest { page_size: 2, page_token: token.clone(), status: 0 },
                    &chief(),
                ))
                .await
                .unwrap()
                .into_inner();
            pages += 1;
            assert!(page.departments.len() <= 2);
            seen.extend(page.departments.into_iter().map(|d| d.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(pages, 3);
        assert_eq!(
            seen,
            [CHIEF_OFFICE, "parks", "revenue", "sanitation", "streets", "water"].map(|d| format!("departments/{d}"))
        );

        let updated = client
            .update_department(authed(
                pb::UpdateDepartmentRequest {
                    department: Some(pb::Department {
                        name: "departments/water".into(),
                        display_name: "Water Department".into(),
                        description: "ignored: not in the mask".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .department
            .unwrap();
        assert_eq!(updated.display_name, "Water Department");
        assert_eq!(updated.description, "serves residents");
        assert_ne!(updated.etag, got.etag);

        let archived = client
            .archive_department(authed(pb::ArchiveDepartmentRequest { name: "departments/parks".into(), etag: String::new() }, &chief()))
            .await
            .unwrap()
            .into_inner()
            .department
            .unwrap();
        assert_eq!(archived.status, pb::DepartmentStatus::Archived as i32);
        let active = client
            .list_departments(authed(
                pb::ListDepartmentsRequest { page_size: 0, page_token: String::new(), status: pb::DepartmentStatus::Active as i32 },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(active.departments.len(), 5, "four of ours and the Chief's office");
        assert!(active.departments.iter().all(|d| d.name != "departments/parks"));

        // An archived department takes no changes until it is unarchived.
        let err = create_category_status(app, "parks", "bench").await;
        assert_eq!(err, Code::FailedPrecondition);
        client
            .unarchive_department(authed(pb::UnarchiveDepartmentRequest { name: "departments/parks".into(), etag: archived.etag }, &chief()))
            .await
            .unwrap();
        create_category(app, "parks", "bench").await;
    }

    async fn idempotent_create_retried(app: &TestApp) {
        let mut client = app.departments();
        let req = pb::CreateDepartmentRequest {
            department_id: "streets".into(),
            department: Some(pb::Department { display_name: "Streets".into(), ..Default::default() }),
            request_id: "7b0c6f7e-retry".into(),
        };
        let first = client.create_department(authed(req.clone(), &chief())).await.unwrap().into_inner();
        let retry = client.create_department(authed(req.clone(), &chief())).await.unwrap().into_inner();
        assert_eq!(first, retry, "a retry returns the same department");

        let mut changed = req.clone();
        changed.department.as_mut().unwrap().display_name = "Something else".into();
        let err = client.create_department(authed(changed, &chief())).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists);

        let mut new_key = req.clone();
        new_key.request_id = "another-key".into();
        let err = client.create_department(authed(new_key, &chief())).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists);

        let listed = client
            .list_departments(authed(pb::ListDepartmentsRequest::default(), &chief()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.departments.len(), 2, "retries created nothing extra (besides the Chief's office)");

        // Concurrent retries of one create also produce exactly one department.
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let mut c = client.clone();
            let req = pb::CreateDepartmentRequest {
                department_id: "water".into(),
                department: Some(pb::Department { display_name: "Water".into(), ..Default::default() }),
                request_id: "concurrent".into(),
            };
            tasks.push(tokio::spawn(async move { c.create_department(authed(req, &chief())).await.map(|r| r.into_inner()) }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().unwrap());
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]));
    }

    async fn update_with_stale_etag_is_rejected(app: &TestApp) {
        let mut client = app.departments();
        let v1 = create_department(app, "revenue").await;
        let update = |etag: String, text: &str| pb::UpdateDepartmentRequest {
            department: Some(pb::Department {
                name: "departments/revenue".into(),
                description: text.into(),
                etag,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["description".into()] }),
        };
        let v2 = client.update_department(authed(update(v1.etag.clone(), "first"), &chief())).await.unwrap().into_inner();
        let err = client.update_department(authed(update(v1.etag.clone(), "stale"), &chief())).await.unwrap_err();
        assert_eq!(err.code(), Code::Aborted);
        let now = client
            .get_department(authed(pb::GetDepartmentRequest { name: "departments/revenue".into() }, &chief()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(now.department, v2.department, "the stale update changed nothing");
        let err = client.update_department(authed(update("garbage".into(), "x"), &chief())).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&err), ["department.etag"]);
    }

    async fn cso_of_one_department_cannot_reach_another(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        create_category(app, "streets", "pothole").await;
        create_category(app, "water", "leak").await;
        let water_cso = app.cso("water").await;
        let mut client = app.departments();

        let err = client
            .get_department(authed(pb::GetDepartmentRequest { name: "departments/streets".into() }, &water_cso))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let missing = client
            .get_department(authed(pb::GetDepartmentRequest { name: "departments/nowhere".into() }, &water_cso))
            .await
            .unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "foreign and missing look the same");

        let err = client
            .list_service_categories(authed(
                pb::ListServiceCategoriesRequest { parent: "departments/streets".into(), ..Default::default() },
                &water_cso,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = client
            .get_service_category(authed(
                pb::GetServiceCategoryRequest { name: "departments/streets/serviceCategories/pothole".into() },
                &water_cso,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);

        let err = client
            .update_department(authed(
                pb::UpdateDepartmentRequest {
                    department: Some(pb::Department { name: "departments/streets".into(), display_name: "Hijacked".into(), ..Default::default() }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
                },
                &water_cso,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);

        // Their own department works, and listing shows only it.
        let own = client
            .list_service_categories(authed(
                pb::ListServiceCategoriesRequest { parent: "departments/water".into(), ..Default::default() },
                &water_cso,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(own.service_categories.len(), 1);
        let listed = client
            .list_departments(authed(pb::ListDepartmentsRequest::default(), &water_cso))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.departments.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["departments/water"]);

        // Staff may read but not change; the Chief-only actions are PERMISSION_DENIED in their own department.
        let staff = app.staff("water").await;
        let err = client
            .archive_department(authed(pb::ArchiveDepartmentRequest { name: "departments/water".into(), etag: String::new() }, &staff))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        let err = client
            .archive_department(authed(pb::ArchiveDepartmentRequest { name: "departments/water".into(), etag: String::new() }, &water_cso))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        let err = client
            .create_department(authed(
                pb::CreateDepartmentRequest { department_id: "rogue".into(), department: Some(pb::Department { display_name: "R".into(), ..Default::default() }), request_id: "r".into() },
                &water_cso,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }

    async fn validation_names_the_field(app: &TestApp) {
        let mut client = app.departments();
        let err = client
            .create_department(authed(
                pb::CreateDepartmentRequest {
                    department_id: "Bad ID".into(),
                    department: Some(pb::Department::default()),
                    request_id: "v1".into(),
                },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&err), ["department_id"]);

        let err = client
            .create_department(authed(
                pb::CreateDepartmentRequest {
                    department_id: "water".into(),
                    department: Some(pb::Department {
                        display_name: " ".into(),
                        default_targets: Some(pb::ServiceTargets { acknowledge_within: Some(hours(48)), resolve_within: Some(hours(1)), ..Default::default() }),
                        ..Default::default()
                    }),
                    request_id: "v2".into(),
                },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["department.display_name", "department.default_targets.resolve_within"]);

        let err = client
            .create_department(authed(
                pb::CreateDepartmentRequest { department_id: "water".into(), department: Some(pb::Department { display_name: "W".into(), ..Default::default() }), request_id: String::new() },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["request_id"]);

        create_department(app, "water").await;
        let err = client
            .update_department(authed(
                pb::UpdateDepartmentRequest {
                    department: Some(pb::Department { name: "departments/water".into(), ..Default::default() }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["status".into()] }),
                },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["update_mask.paths[0]"]);

        for (size, token, field) in [(-1, "", "page_size"), (10, "not-a-token", "page_token")] {
            let err = client
                .list_departments(authed(pb::ListDepartmentsRequest { page_size: size, page_token: token.into(), status: 0 }, &chief()))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument);
            assert_eq!(bad_fields(&err), [field]);
        }
        let err = client
            .get_department(authed(pb::GetDepartmentRequest { name: "water".into() }, &chief()))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["name"]);
    }
}

/// The status code of creating a category (for expected failures).
async fn create_category_status(app: &TestApp, dept: &str, id: &str) -> Code {
    app.departments()
        .create_service_category(authed(
            pb::CreateServiceCategoryRequest {
                parent: format!("departments/{dept}"),
                service_category_id: id.into(),
                service_category: Some(pb::ServiceCategory { display_name: "X".into(), ..Default::default() }),
                request_id: format!("fail-{id}"),
            },
            &chief(),
        ))
        .await
        .map_or_else(|e| e.code(), |_| Code::Ok)
}
