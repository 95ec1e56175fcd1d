//! `cityserve.v1.ServiceAccountService`: the city's internal applications and the departments
//! each may act for. The standing check ([`crate::layers::standing`]) honours a service token only
//! for an active account and only for the departments it allows.
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{ctx, expected_revision, idempotency, list_scope, mask_paths, next_page_token, page};
use crate::layers::standing::HomeDepartment;
use cityserve_domain::officer::identity_subject;
use cityserve_domain::service_account::account_departments;
use cityserve_domain::validation::required_text;
use cityserve_domain::{
    Action, AuditAction, Caller, DepartmentId, ServiceAccount, ServiceAccountId, ServiceAccountStatus, TenantScope,
    ValidationError, etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::service_account_service_server::ServiceAccountService;
use cityserve_store::{OfficerStore, StoreError, resource};
use tonic::{Request, Response, Status};

/// The ServiceAccountService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct ServiceAccountsApi<S> {
    store: S,
}

fn account_to_pb(a: &ServiceAccount) -> pb::ServiceAccount {
    pb::ServiceAccount {
        name: resource::service_account(a.id.as_str()),
        display_name: a.display_name.clone(),
        departments: a.departments.iter().map(resource::department).collect(),
        client_id: a.client_id.clone(),
        state: match a.status {
            ServiceAccountStatus::Active => pb::ServiceAccountState::Active,
            ServiceAccountStatus::Inactive => pb::ServiceAccountState::Inactive,
        } as i32,
        create_time: Some(timestamp(a.create_time)),
        update_time: Some(timestamp(a.update_time)),
        etag: etag_for(a.revision),
    }
}

/// The ID in `serviceAccounts/{service_account}`.
fn account_id(field: &str, name: &str) -> Result<ServiceAccountId, ValidationError> {
    let id = name
        .strip_prefix("serviceAccounts/")
        .ok_or_else(|| ValidationError::one(field, "must have the form serviceAccounts/{service_account}"))?;
    ServiceAccountId::parse(field, id)
}

/// The Chief's home department, where city-wide changes are audited.
fn home(caller: &Caller, home: Option<DepartmentId>) -> Result<DepartmentId, ApiError> {
    home.or_else(|| caller.departments.first().cloned())
        .ok_or_else(|| ApiError::FailedPrecondition("the caller has no home department to audit in".into()))
}

impl<S: OfficerStore> ServiceAccountsApi<S> {
    /// A service backed by `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::service_account_service_server::ServiceAccountServiceServer<Self> {
        pb::service_account_service_server::ServiceAccountServiceServer::new(self)
    }

    /// `names` as departments that exist (`field[i]` names the bad ones).
    async fn departments(
        &self,
        scope: &TenantScope,
        field: &str,
        names: &[String],
    ) -> Result<Vec<DepartmentId>, ApiError> {
        let mut errors = ValidationError::default();
        let mut ids = Vec::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(d) = errors.check(crate::names::department(&format!("{field}[{i}]"), n)) {
                ids.push(d);
            }
        }
        errors.into_result()?;
        let mut errors = ValidationError::default();
        for (i, d) in ids.iter().enumerate() {
            match self.store.get_department(scope, d).await {
                Ok(_) => {}
                Err(StoreError::NotFound) => {
                    errors.push(format!("{field}[{i}]"), format!("departments/{d} does not exist"));
                }
                Err(e) => return Err(ApiError::from_store(e, "department")),
            }
        }
        errors.into_result()?;
        Ok(account_departments(field, &ids)?)
    }

    async fn create(
        &self,
        caller: Caller,
        home_department: Option<DepartmentId>,
        r: pb::CreateServiceAccountRequest,
    ) -> Result<ServiceAccount, ApiError> {
        let scope = list_scope(&caller, Action::ManageServiceAccounts, None, "serviceAccounts")?;
        let idem =
            idempotency(&r.request_id, &pb::CreateServiceAccountRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.service_account.unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(ServiceAccountId::parse("service_account_id", &r.service_account_id));
        let display_name = errors.check(required_text("service_account.display_name", &body.display_name, 200));
        let client_id = errors.check(identity_subject("service_account.client_id", &body.client_id));
        errors.into_result()?;
        let departments = self.departments(&scope, "service_account.departments", &body.departments).await?;
        let (Some(id), Some(display_name), Some(client_id)) = (id, display_name, client_id) else {
            return Err(ApiError::Internal);
        };
        let now = cityserve_store::now_micros();
        let account = ServiceAccount {
            id,
            display_name,
            departments,
            client_id,
            status: ServiceAccountStatus::Active,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        let home = home(&caller, home_department)?;
        let name = resource::service_account(account.id.as_str());
        self.store
            .create_service_account(&ctx(&scope, &caller, AuditAction::ServiceAccountManage), &idem, &home, &account)
            .await
            .map_err(|e| ApiError::from_store(e, &format!("{name} (or an account with its client_id)")))
    }

    async fn get(&self, caller: Caller, name: &str) -> Result<ServiceAccount, ApiError> {
        let id = account_id("name", name)?;
        let scope = list_scope(&caller, Action::ReadServiceAccounts, None, name)?;
        self.store.get_service_account(&scope, &id).await.map_err(|e| ApiError::from_store(e, name))
    }

    async fn list(
        &self,
        caller: Caller,
        r: pb::ListServiceAccountsRequest,
    ) -> Result<pb::ListServiceAccountsResponse, ApiError> {
        let page = page(r.page_size, &r.page_token, "service_accounts")?;
        let scope = list_scope(&caller, Action::ReadServiceAccounts, None, "serviceAccounts")?;
        let p = self
            .store
            .list_service_accounts(&scope, &page)
            .await
            .map_err(|e| ApiError::from_store(e, "serviceAccounts"))?;
        Ok(pb::ListServiceAccountsResponse {
            service_accounts: p.items.iter().map(account_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, "service_accounts"),
        })
    }

    async fn update(
        &self,
        caller: Caller,
        home_department: Option<DepartmentId>,
        r: pb::UpdateServiceAccountRequest,
    ) -> Result<ServiceAccount, ApiError> {
        let body = r.service_account.ok_or_else(|| ValidationError::one("service_account", "is required"))?;
        let id = account_id("service_account.name", &body.name)?;
        let scope = list_scope(&caller, Action::ManageServiceAccounts, None, &body.name)?;
        let all = ["display_name", "departments", "client_id"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let current =
            self.store.get_service_account(&scope, &id).await.map_err(|e| ApiError::from_store(e, &body.name))?;
        let expected = expected_revision("service_account.etag", &body.etag, current.revision)?;
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "display_name" => {
                    if let Some(v) =
                        errors.check(required_text("service_account.display_name", &body.display_name, 200))
                    {
                        next.display_name = v;
                    }
                }
                "client_id" => {
                    if let Some(v) = errors.check(identity_subject("service_account.client_id", &body.client_id)) {
                        next.client_id = v;
                    }
                }
                _ => {}
            }
        }
        errors.into_result()?;
        if paths.iter().any(|p| p == "departments") {
            next.departments = self.departments(&scope, "service_account.departments", &body.departments).await?;
        }
        self.save(&caller, home_department, &scope, &next, expected, &body.name).await
    }

    async fn deactivate(
        &self,
        caller: Caller,
        home_department: Option<DepartmentId>,
        r: pb::DeactivateServiceAccountRequest,
    ) -> Result<ServiceAccount, ApiError> {
        let id = account_id("name", &r.name)?;
        let scope = list_scope(&caller, Action::ManageServiceAccounts, None, &r.name)?;
        let current =
            self.store.get_service_account(&scope, &id).await.map_err(|e| ApiError::from_store(e, &r.name))?;
        let expected = expected_revision("etag", &r.etag, current.revision)?;
        if current.status == ServiceAccountStatus::Inactive {
            return Ok(current);
        }
        let next = ServiceAccount { status: ServiceAccountStatus::Inactive, ..current };
        self.save(&caller, home_department, &scope, &next, expected, &r.name).await
    }

    async fn save(
        &self,
        caller: &Caller,
        home_department: Option<DepartmentId>,
        scope: &TenantScope,
        next: &ServiceAccount,
        expected: i64,
        name: &str,
    ) -> Result<ServiceAccount, ApiError> {
        let home = home(caller, home_department)?;
        self.store
            .update_service_account(&ctx(scope, caller, AuditAction::ServiceAccountManage), &home, next, expected)
            .await
            .map_err(|e| match e {
                // The account exists (read above): the one unique value an update can collide on.
                StoreError::AlreadyExists => {
                    ApiError::AlreadyExists(format!("a service account with client_id {:?}", next.client_id))
                }
                e => ApiError::from_store(e, name),
            })
    }
}

/// The home department the standing check found for the caller.
fn home_of<T>(req: &Request<T>) -> Option<DepartmentId> {
    req.extensions().get::<HomeDepartment>().map(|h| h.0.clone())
}

#[tonic::async_trait]
impl<S: OfficerStore> ServiceAccountService for ServiceAccountsApi<S> {
    async fn create_service_account(
        &self,
        req: Request<pb::CreateServiceAccountRequest>,
    ) -> Result<Response<pb::CreateServiceAccountResponse>, Status> {
        let home = home_of(&req);
        handle!(req, |c, r| self.create(c, home, r), |a: ServiceAccount| pb::CreateServiceAccountResponse {
            service_account: Some(account_to_pb(&a))
        })
    }

    async fn get_service_account(
        &self,
        req: Request<pb::GetServiceAccountRequest>,
    ) -> Result<Response<pb::GetServiceAccountResponse>, Status> {
        handle!(req, |c, r| async move { self.get(c, &r.name).await }, |a: ServiceAccount| {
            pb::GetServiceAccountResponse { service_account: Some(account_to_pb(&a)) }
        })
    }

    async fn list_service_accounts(
        &self,
        req: Request<pb::ListServiceAccountsRequest>,
    ) -> Result<Response<pb::ListServiceAccountsResponse>, Status> {
        handle!(req, |c, r| self.list(c, r), |x| x)
    }

    async fn update_service_account(
        &self,
        req: Request<pb::UpdateServiceAccountRequest>,
    ) -> Result<Response<pb::UpdateServiceAccountResponse>, Status> {
        let home = home_of(&req);
        handle!(req, |c, r| self.update(c, home, r), |a: ServiceAccount| pb::UpdateServiceAccountResponse {
            service_account: Some(account_to_pb(&a))
        })
    }

    async fn deactivate_service_account(
        &self,
        req: Request<pb::DeactivateServiceAccountRequest>,
    ) -> Result<Response<pb::DeactivateServiceAccountResponse>, Status> {
        let home = home_of(&req);
        handle!(req, |c, r| self.deactivate(c, home, r), |a: ServiceAccount| pb::DeactivateServiceAccountResponse {
            service_account: Some(account_to_pb(&a))
        })
    }
}
