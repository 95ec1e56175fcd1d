//! Service categories and service standards, end to end.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use tonic::Code;

both_backends! {
    async fn categories_lifecycle(app: &TestApp) {
        create_department(app, "streets").await;
        let cso = app.cso("streets").await;
        let mut client = app.departments();
        for id in ["pothole", "signal", "sidewalk"] {
            client
                .create_service_category(authed(
                    pb::CreateServiceCategoryRequest {
                        parent: "departments/streets".into(),
                        service_category_id: id.into(),
                        service_category: Some(pb::ServiceCategory {
                            display_name: id.into(),
                            keywords: vec!["Road".into(), "road".into()],
                            ..Default::default()
                        }),
                        request_id: format!("c-{id}"),
                    },
                    &cso,
                ))
                .await
                .unwrap();
        }
        let pothole = client
            .get_service_category(authed(pb::GetServiceCategoryRequest { name: "departments/streets/serviceCategories/pothole".into() }, &cso))
            .await
            .unwrap()
            .into_inner()
            .service_category
            .unwrap();
        assert_eq!(pothole.keywords, ["road"], "keywords are normalised");

        let updated = client
            .update_service_category(authed(
                pb::UpdateServiceCategoryRequest {
                    service_category: Some(pb::ServiceCategory {
                        name: pothole.name.clone(),
                        description: "Holes in the carriageway".into(),
                        etag: pothole.etag.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["description".into()] }),
                },
                &cso,
            ))
            .await
            .unwrap()
            .into_inner()
            .service_category
            .unwrap();
        assert_eq!(updated.description, "Holes in the carriageway");
        assert_eq!(updated.display_name, "pothole");

        client
            .retire_service_category(authed(pb::RetireServiceCategoryRequest { name: pothole.name.clone(), etag: String::new() }, &cso))
            .await
            .unwrap();
        let active = client
            .list_service_categories(authed(
                pb::ListServiceCategoriesRequest {
                    parent: "departments/streets".into(),
                    status: pb::ServiceCategoryStatus::Active as i32,
                    page_size: 1,
                    ..Default::default()
                },
                &cso,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(active.service_categories.len(), 1);
        let rest = client
            .list_service_categories(authed(
                pb::ListServiceCategoriesRequest {
                    parent: "departments/streets".into(),
                    status: pb::ServiceCategoryStatus::Active as i32,
                    page_size: 1,
                    page_token: active.next_page_token.clone(),
                },
                &cso,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            [&active.service_categories[0].name, &rest.service_categories[0].name],
            ["departments/streets/serviceCategories/sidewalk", "departments/streets/serviceCategories/signal"]
        );
        assert!(rest.next_page_token.is_empty());
        // A token from one filter is refused for another.
        let err = client
            .list_service_categories(authed(
                pb::ListServiceCategoriesRequest {
                    parent: "departments/streets".into(),
                    page_token: active.next_page_token,
                    ..Default::default()
                },
                &cso,
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["page_token"]);

        // Staff read but cannot change the catalog.
        let staff = app.staff("streets").await;
        let err = client
            .retire_service_category(authed(pb::RetireServiceCategoryRequest { name: "departments/streets/serviceCategories/signal".into(), etag: String::new() }, &staff))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }

    async fn standards_resolve_most_specific(app: &TestApp) {
        create_department(app, "water").await;
        create_category(app, "water", "leak").await;
        let cso = app.cso("water").await;
        let mut client = app.departments();
        let create = |id: &str, cat: &str, channel: pb::Channel, ack: i64| pb::CreateServiceStandardRequest {
            parent: "departments/water".into(),
            service_standard_id: id.into(),
            service_standard: Some(pb::ServiceStandard {
                service_category_id: cat.into(),
                channel: channel as i32,
                targets: Some(pb::ServiceTargets { acknowledge_within: Some(hours(ack)), resolve_within: Some(hours(ack * 10)), ..Default::default() }),
                ..Default::default()
            }),
            request_id: format!("s-{id}"),
        };
        client.create_service_standard(authed(create("leak", "leak", pb::Channel::Unspecified, 2), &cso)).await.unwrap();
        let phone = client
            .create_service_standard(authed(create("leak-phone", "leak", pb::Channel::Phone, 1), &cso))
            .await
            .unwrap()
            .into_inner()
            .service_standard
            .unwrap();
        let err = client.create_service_standard(authed(create("dup", "leak", pb::Channel::Phone, 3), &cso)).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "one standard per category and channel");
        let err = client.create_service_standard(authed(create("nocat", "ghost", pb::Channel::Web, 3), &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["service_standard.service_category_id"]);
        let err = client.create_service_standard(authed(create("nothing", "", pb::Channel::Unspecified, 3), &cso)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);

        let resolve = |cat: &str, channel: pb::Channel| pb::ResolveServiceStandardRequest {
            parent: "departments/water".into(),
            service_category_id: cat.into(),
            channel: channel as i32,
        };
        let r = client.resolve_service_standard(authed(resolve("leak", pb::Channel::Phone), &cso)).await.unwrap().into_inner();
        assert_eq!(r.service_standard, "departments/water/serviceStandards/leak-phone");
        assert_eq!(r.targets.unwrap().acknowledge_within.unwrap().seconds, 3600);
        let r = client.resolve_service_standard(authed(resolve("leak", pb::Channel::Web), &cso)).await.unwrap().into_inner();
        assert_eq!(r.service_standard, "departments/water/serviceStandards/leak");
        let r = client.resolve_service_standard(authed(resolve("", pb::Channel::Web), &cso)).await.unwrap().into_inner();
        assert_eq!(r.service_standard, "", "the department default applies");
        assert_eq!(r.targets.unwrap().acknowledge_within.unwrap().seconds, 86_400);

        let updated = client
            .update_service_standard(authed(
                pb::UpdateServiceStandardRequest {
                    service_standard: Some(pb::ServiceStandard {
                        name: phone.name.clone(),
                        targets: Some(pb::ServiceTargets { acknowledge_within: Some(hours(3)), ..Default::default() }),
                        etag: phone.etag.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["targets.acknowledge_within".into()] }),
                },
                &cso,
            ))
            .await
            .unwrap()
            .into_inner()
            .service_standard
            .unwrap();
        let t = updated.targets.unwrap();
        assert_eq!((t.acknowledge_within.unwrap().seconds, t.resolve_within.unwrap().seconds), (3 * 3600, 10 * 3600));

        let err = client
            .delete_service_standard(authed(pb::DeleteServiceStandardRequest { name: phone.name.clone(), etag: phone.etag.clone() }, &cso))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Aborted);
        client
            .delete_service_standard(authed(pb::DeleteServiceStandardRequest { name: phone.name.clone(), etag: updated.etag }, &cso))
            .await
            .unwrap();
        let r = client.resolve_service_standard(authed(resolve("leak", pb::Channel::Phone), &cso)).await.unwrap().into_inner();
        assert_eq!(r.service_standard, "departments/water/serviceStandards/leak");
        let listed = client
            .list_service_standards(authed(pb::ListServiceStandardsRequest { parent: "departments/water".into(), ..Default::default() }, &cso))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.service_standards.len(), 1);
    }
}
