//! `cityserve.v1.DepartmentService`: departments (tenants), service categories, service standards.
use crate::convert::{self, category_to_pb, department_to_pb, standard_to_pb};
use crate::error::ApiError;
use crate::kit::{ctx, expected_revision, idempotency, mask_paths, next_page_token, page, record_tenant, scope_for};
use crate::names;
use cityserve_domain::validation::{keywords, optional_text, required_text};
use cityserve_domain::{
    Action, AuditAction, Caller, Department, DepartmentId, DepartmentStatus, NewDepartment, NewServiceCategory,
    NewServiceStandard, ServiceCategoryId, ServiceCategoryStatus, ServiceStandardId, ServiceTargets, TenantScope,
    ValidationError, authorize, resolve_targets, revision_from_etag,
};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::department_service_server::DepartmentService;
use cityserve_store::{CalendarStore, DepartmentStore};
use tonic::{Request, Response, Status};

/// Default targets for a department created without them: acknowledge within a day, resolve
/// within ten.
const DEFAULT_ACK_SECS: i64 = 86_400;
const DEFAULT_RESOLVE_SECS: i64 = 10 * 86_400;
const DISPLAY_NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2_000;

/// The DepartmentService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct DepartmentsApi<S> {
    pub(crate) store: S,
}

impl<S: DepartmentStore + CalendarStore> DepartmentsApi<S> {
    /// A service backed by `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::department_service_server::DepartmentServiceServer<Self> {
        pb::department_service_server::DepartmentServiceServer::new(self)
    }
}

fn dept_label(d: &DepartmentId) -> String {
    format!("department '{d}'")
}

/// The clock a whole-`targets` update sets: the one sent, or `current` when it names none (the
/// caller validated the value already).
fn keep_clock(t: Option<&pb::ServiceTargets>, current: cityserve_domain::Clock) -> cityserve_domain::Clock {
    t.and_then(|t| convert::clock_from_pb("clock", t.clock).ok().flatten()).unwrap_or(current)
}

fn ensure_active(d: &Department) -> Result<(), ApiError> {
    if d.status == DepartmentStatus::Archived {
        return Err(ApiError::FailedPrecondition(format!(
            "department '{}' is archived: unarchive it before changing it",
            d.id
        )));
    }
    Ok(())
}

impl<S: DepartmentStore + CalendarStore> DepartmentsApi<S> {
    async fn create_department(
        &self,
        caller: Caller,
        r: pb::CreateDepartmentRequest,
    ) -> Result<pb::Department, ApiError> {
        let id = DepartmentId::parse("department_id", &r.department_id)?;
        // Creating a tenant is a city-wide action: no department to hide, so a refusal is
        // PERMISSION_DENIED.
        record_tenant(id.as_str());
        let scope = authorize(&caller, Action::CreateDepartment, None)
            .map_err(|d| ApiError::from_denied(d, &dept_label(&id)))?;
        let idem = idempotency(&r.request_id, &pb::CreateDepartmentRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.department.unwrap_or_default();
        let mut errors = ValidationError::default();
        let display_name = errors.check(required_text("department.display_name", &body.display_name, DISPLAY_NAME_MAX));
        let description = errors.check(optional_text("department.description", &body.description, DESCRIPTION_MAX));
        let targets = match body.default_targets.as_ref() {
            None => ServiceTargets::new(DEFAULT_ACK_SECS, DEFAULT_RESOLVE_SECS).ok(),
            Some(t) => errors.check(convert::targets_from_pb("department.default_targets", Some(t))),
        };
        errors.into_result()?;
        let (Some(display_name), Some(description), Some(default_targets)) = (display_name, description, targets)
        else {
            return Err(ApiError::Internal);
        };
        let new = NewDepartment { id: id.clone(), display_name, description, default_targets };
        let d = self
            .store
            .create_department(&ctx(&scope, &caller, AuditAction::DepartmentCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &dept_label(&id)))?;
        tracing::info!(department = %d.id, "department created");
        Ok(department_to_pb(&d))
    }

    async fn get_department(&self, caller: Caller, name: &str) -> Result<pb::Department, ApiError> {
        let id = names::department("name", name)?;
        let scope = scope_for(&caller, Action::ReadDepartment, &id, &dept_label(&id))?;
        let d = self.store.get_department(&scope, &id).await.map_err(|e| ApiError::from_store(e, &dept_label(&id)))?;
        Ok(department_to_pb(&d))
    }

    async fn list_departments(
        &self,
        caller: Caller,
        r: pb::ListDepartmentsRequest,
    ) -> Result<pb::ListDepartmentsResponse, ApiError> {
        let status = convert::department_status_filter("status", r.status)?;
        let filter = format!("departments?status={}", status.map_or("", |s| s.as_str()));
        let page = page(r.page_size, &r.page_token, &filter)?;
        let scope =
            authorize(&caller, Action::ReadDepartment, None).map_err(|d| ApiError::from_denied(d, "departments"))?;
        let p = self
            .store
            .list_departments(&scope, status, &page)
            .await
            .map_err(|e| ApiError::from_store(e, "departments"))?;
        Ok(pb::ListDepartmentsResponse {
            departments: p.items.iter().map(department_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter),
        })
    }

    async fn update_department(
        &self,
        caller: Caller,
        r: pb::UpdateDepartmentRequest,
    ) -> Result<pb::Department, ApiError> {
        let body = r.department.ok_or_else(|| ValidationError::one("department", "is required"))?;
        let id = names::department("department.name", &body.name)?;
        let label = dept_label(&id);
        let scope = scope_for(&caller, Action::UpdateDepartment, &id, &label)?;
        let all = ["display_name", "description", "default_targets"];
        let allowed = [
            "display_name",
            "description",
            "default_targets",
            "default_targets.acknowledge_within",
            "default_targets.resolve_within",
            "default_targets.clock",
        ];
        let paths = mask_paths(r.update_mask.as_ref(), &allowed, &all)?;
        let current = self.store.get_department(&scope, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        let expected = expected_revision("department.etag", &body.etag, current.revision)?;
        ensure_active(&current)?;

        let mut next = current.clone();
        let mut errors = ValidationError::default();
        let (mut ack, mut res) = (current.default_targets.acknowledge_secs(), current.default_targets.resolve_secs());
        let mut clock = current.default_targets.clock;
        let t = body.default_targets.as_ref();
        for p in &paths {
            match p.as_str() {
                "display_name" => {
                    if let Some(v) =
                        errors.check(required_text("department.display_name", &body.display_name, DISPLAY_NAME_MAX))
                    {
                        next.display_name = v;
                    }
                }
                "description" => {
                    if let Some(v) =
                        errors.check(optional_text("department.description", &body.description, DESCRIPTION_MAX))
                    {
                        next.description = v;
                    }
                }
                "default_targets" => match errors.check(convert::targets_from_pb("department.default_targets", t)) {
                    Some(v) => {
                        (ack, res) = (v.acknowledge_secs(), v.resolve_secs());
                        clock = keep_clock(t, clock);
                    }
                    None => continue,
                },
                "default_targets.clock" => {
                    let f = "department.default_targets.clock";
                    clock =
                        errors.check(convert::clock_from_pb(f, t.map_or(0, |t| t.clock))).flatten().unwrap_or(clock);
                }
                "default_targets.acknowledge_within" => {
                    let f = "department.default_targets.acknowledge_within";
                    ack =
                        errors.check(convert::seconds(f, t.and_then(|t| t.acknowledge_within.as_ref()))).unwrap_or(ack);
                }
                "default_targets.resolve_within" => {
                    let f = "department.default_targets.resolve_within";
                    res = errors.check(convert::seconds(f, t.and_then(|t| t.resolve_within.as_ref()))).unwrap_or(res);
                }
                _ => {}
            }
        }
        errors.into_result()?;
        next.default_targets =
            ServiceTargets::new(ack, res).map_err(|e| e.within("department.default_targets"))?.on(clock);
        let d = self
            .store
            .update_department(&ctx(&scope, &caller, AuditAction::DepartmentUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(department_to_pb(&d))
    }

    async fn set_department_status(
        &self,
        caller: Caller,
        name: &str,
        etag: &str,
        status: DepartmentStatus,
    ) -> Result<pb::Department, ApiError> {
        let id = names::department("name", name)?;
        let label = dept_label(&id);
        let scope = scope_for(&caller, Action::ArchiveDepartment, &id, &label)?;
        let current = self.store.get_department(&scope, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        let expected = expected_revision("etag", etag, current.revision)?;
        if current.status == status {
            return Ok(department_to_pb(&current));
        }
        let action = match status {
            DepartmentStatus::Archived => AuditAction::DepartmentArchive,
            DepartmentStatus::Active => AuditAction::DepartmentUnarchive,
        };
        let next = Department { status, ..current };
        let d = self
            .store
            .update_department(&ctx(&scope, &caller, action), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        tracing::info!(department = %d.id, status = status.as_str(), "department status changed");
        Ok(department_to_pb(&d))
    }

    /// Reads the department a catalog write targets and checks that it takes changes.
    async fn active_department(&self, scope: &TenantScope, id: &DepartmentId) -> Result<Department, ApiError> {
        let d = self.store.get_department(scope, id).await.map_err(|e| ApiError::from_store(e, &dept_label(id)))?;
        ensure_active(&d)?;
        Ok(d)
    }

    async fn create_category(
        &self,
        caller: Caller,
        r: pb::CreateServiceCategoryRequest,
    ) -> Result<pb::ServiceCategory, ApiError> {
        let dept = names::department("parent", &r.parent)?;
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &dept, &dept_label(&dept))?;
        let id = ServiceCategoryId::parse("service_category_id", &r.service_category_id)?;
        let idem =
            idempotency(&r.request_id, &pb::CreateServiceCategoryRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.service_category.unwrap_or_default();
        let mut errors = ValidationError::default();
        let display_name =
            errors.check(required_text("service_category.display_name", &body.display_name, DISPLAY_NAME_MAX));
        let description =
            errors.check(optional_text("service_category.description", &body.description, DESCRIPTION_MAX));
        let kw = errors.check(keywords("service_category.keywords", &body.keywords));
        let attributes = errors.check(convert::attributes_from_pb("service_category.attributes", &body.attributes));
        errors.into_result()?;
        let (Some(display_name), Some(description), Some(keywords), Some(attributes)) =
            (display_name, description, kw, attributes)
        else {
            return Err(ApiError::Internal);
        };
        self.active_department(&scope, &dept).await?;
        let label = names::category_name(&dept, &id);
        let new = NewServiceCategory {
            department_id: dept,
            id,
            display_name,
            description,
            keywords,
            attributes,
            public: body.public,
        };
        let c = self
            .store
            .create_service_category(&ctx(&scope, &caller, AuditAction::ServiceCategoryCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &format!("service category '{label}'")))?;
        Ok(category_to_pb(&c))
    }

    async fn get_category(&self, caller: Caller, name: &str) -> Result<pb::ServiceCategory, ApiError> {
        let (dept, id) = names::category("name", name)?;
        let label = format!("service category '{name}'");
        let scope = scope_for(&caller, Action::ReadServiceCatalog, &dept, &label)?;
        let c =
            self.store.get_service_category(&scope, &dept, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        Ok(category_to_pb(&c))
    }

    async fn list_categories(
        &self,
        caller: Caller,
        r: pb::ListServiceCategoriesRequest,
    ) -> Result<pb::ListServiceCategoriesResponse, ApiError> {
        let dept = names::department("parent", &r.parent)?;
        let label = dept_label(&dept);
        let scope = scope_for(&caller, Action::ReadServiceCatalog, &dept, &label)?;
        let status = convert::category_status_filter("status", r.status)?;
        let filter = format!("{}/serviceCategories?status={}", r.parent, status.map_or("", |s| s.as_str()));
        let page = page(r.page_size, &r.page_token, &filter)?;
        // Listing a missing department's categories is NOT_FOUND, not an empty page.
        self.store.get_department(&scope, &dept).await.map_err(|e| ApiError::from_store(e, &label))?;
        let p = self
            .store
            .list_service_categories(&scope, &dept, status, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(pb::ListServiceCategoriesResponse {
            service_categories: p.items.iter().map(category_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter),
        })
    }

    async fn update_category(
        &self,
        caller: Caller,
        r: pb::UpdateServiceCategoryRequest,
    ) -> Result<pb::ServiceCategory, ApiError> {
        let body = r.service_category.ok_or_else(|| ValidationError::one("service_category", "is required"))?;
        let (dept, id) = names::category("service_category.name", &body.name)?;
        let label = format!("service category '{}'", body.name);
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &dept, &label)?;
        let all = ["display_name", "description", "keywords", "attributes", "public"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let current =
            self.store.get_service_category(&scope, &dept, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        let expected = expected_revision("service_category.etag", &body.etag, current.revision)?;
        self.active_department(&scope, &dept).await?;
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "display_name" => {
                    let v = required_text("service_category.display_name", &body.display_name, DISPLAY_NAME_MAX);
                    if let Some(v) = errors.check(v) {
                        next.display_name = v;
                    }
                }
                "description" => {
                    let v = optional_text("service_category.description", &body.description, DESCRIPTION_MAX);
                    if let Some(v) = errors.check(v) {
                        next.description = v;
                    }
                }
                "keywords" => {
                    if let Some(v) = errors.check(keywords("service_category.keywords", &body.keywords)) {
                        next.keywords = v;
                    }
                }
                "attributes" => {
                    let v = convert::attributes_from_pb("service_category.attributes", &body.attributes);
                    if let Some(v) = errors.check(v) {
                        next.attributes = v;
                    }
                }
                "public" => next.public = body.public,
                _ => {}
            }
        }
        errors.into_result()?;
        let c = self
            .store
            .update_service_category(&ctx(&scope, &caller, AuditAction::ServiceCategoryUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(category_to_pb(&c))
    }

    async fn retire_category(
        &self,
        caller: Caller,
        r: pb::RetireServiceCategoryRequest,
    ) -> Result<pb::ServiceCategory, ApiError> {
        let (dept, id) = names::category("name", &r.name)?;
        let label = format!("service category '{}'", r.name);
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &dept, &label)?;
        let current =
            self.store.get_service_category(&scope, &dept, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        let expected = expected_revision("etag", &r.etag, current.revision)?;
        if current.status == ServiceCategoryStatus::Retired {
            return Ok(category_to_pb(&current));
        }
        let next = cityserve_domain::ServiceCategory { status: ServiceCategoryStatus::Retired, ..current };
        let c = self
            .store
            .update_service_category(&ctx(&scope, &caller, AuditAction::ServiceCategoryRetire), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(category_to_pb(&c))
    }

    async fn create_standard(
        &self,
        caller: Caller,
        r: pb::CreateServiceStandardRequest,
    ) -> Result<pb::ServiceStandard, ApiError> {
        let dept = names::department("parent", &r.parent)?;
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &dept, &dept_label(&dept))?;
        let id = ServiceStandardId::parse("service_standard_id", &r.service_standard_id)?;
        let idem =
            idempotency(&r.request_id, &pb::CreateServiceStandardRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.service_standard.unwrap_or_default();
        let mut errors = ValidationError::default();
        let category = if body.service_category_id.is_empty() {
            Some(None)
        } else {
            errors
                .check(ServiceCategoryId::parse("service_standard.service_category_id", &body.service_category_id))
                .map(Some)
        };
        let channel = errors.check(convert::channel_from_pb("service_standard.channel", body.channel));
        let targets = errors.check(convert::targets_from_pb("service_standard.targets", body.targets.as_ref()));
        errors.into_result()?;
        let (Some(category), Some(channel), Some(targets)) = (category, channel, targets) else {
            return Err(ApiError::Internal);
        };
        let new = NewServiceStandard { department_id: dept.clone(), id, category, channel, targets };
        new.check_scope()?;
        self.active_department(&scope, &dept).await?;
        if let Some(c) = &new.category {
            match self.store.get_service_category(&scope, &dept, c).await {
                Ok(_) => {}
                Err(cityserve_store::StoreError::NotFound) => {
                    return Err(ValidationError::one(
                        "service_standard.service_category_id",
                        "no such service category in this department",
                    )
                    .into());
                }
                Err(e) => return Err(ApiError::from_store(e, "service category")),
            }
        }
        let label = format!(
            "service standard '{}' (or one for the same category and channel)",
            names::standard_name(&dept, &new.id)
        );
        let s = self
            .store
            .create_service_standard(&ctx(&scope, &caller, AuditAction::ServiceStandardCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(standard_to_pb(&s))
    }

    async fn get_standard(&self, caller: Caller, name: &str) -> Result<pb::ServiceStandard, ApiError> {
        let (dept, id) = names::standard("name", name)?;
        let label = format!("service standard '{name}'");
        let scope = scope_for(&caller, Action::ReadServiceCatalog, &dept, &label)?;
        let s =
            self.store.get_service_standard(&scope, &dept, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        Ok(standard_to_pb(&s))
    }

    async fn list_standards(
        &self,
        caller: Caller,
        r: pb::ListServiceStandardsRequest,
    ) -> Result<pb::ListServiceStandardsResponse, ApiError> {
        let dept = names::department("parent", &r.parent)?;
        let label = dept_label(&dept);
        let scope = scope_for(&caller, Action::ReadServiceCatalog, &dept, &label)?;
        let filter = format!("{}/serviceStandards", r.parent);
        let page = page(r.page_size, &r.page_token, &filter)?;
        self.store.get_department(&scope, &dept).await.map_err(|e| ApiError::from_store(e, &label))?;
        let p = self
            .store
            .list_service_standards(&scope, &dept, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(pb::ListServiceStandardsResponse {
            service_standards: p.items.iter().map(standard_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter),
        })
    }

    async fn update_standard(
        &self,
        caller: Caller,
        r: pb::UpdateServiceStandardRequest,
    ) -> Result<pb::ServiceStandard, ApiError> {
        let body = r.service_standard.ok_or_else(|| ValidationError::one("service_standard", "is required"))?;
        let (dept, id) = names::standard("service_standard.name", &body.name)?;
        let label = format!("service standard '{}'", body.name);
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &dept, &label)?;
        let allowed = ["targets", "targets.acknowledge_within", "targets.resolve_within", "targets.clock"];
        let paths = mask_paths(r.update_mask.as_ref(), &allowed, &["targets"])?;
        let current =
            self.store.get_service_standard(&scope, &dept, &id).await.map_err(|e| ApiError::from_store(e, &label))?;
        let expected = expected_revision("service_standard.etag", &body.etag, current.revision)?;
        self.active_department(&scope, &dept).await?;
        let t = body.targets.as_ref();
        let (mut ack, mut res) = (current.targets.acknowledge_secs(), current.targets.resolve_secs());
        let mut clock = current.targets.clock;
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "targets" => {
                    if let Some(v) = errors.check(convert::targets_from_pb("service_standard.targets", t)) {
                        (ack, res) = (v.acknowledge_secs(), v.resolve_secs());
                        clock = keep_clock(t, clock);
                    }
                }
                "targets.clock" => {
                    let f = "service_standard.targets.clock";
                    clock =
                        errors.check(convert::clock_from_pb(f, t.map_or(0, |t| t.clock))).flatten().unwrap_or(clock);
                }
                "targets.acknowledge_within" => {
                    let f = "service_standard.targets.acknowledge_within";
                    ack =
                        errors.check(convert::seconds(f, t.and_then(|t| t.acknowledge_within.as_ref()))).unwrap_or(ack);
                }
                "targets.resolve_within" => {
                    let f = "service_standard.targets.resolve_within";
                    res = errors.check(convert::seconds(f, t.and_then(|t| t.resolve_within.as_ref()))).unwrap_or(res);
                }
                _ => {}
            }
        }
        errors.into_result()?;
        let mut next = current.clone();
        next.targets = ServiceTargets::new(ack, res).map_err(|e| e.within("service_standard.targets"))?.on(clock);
        let s = self
            .store
            .update_service_standard(&ctx(&scope, &caller, AuditAction::ServiceStandardUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        Ok(standard_to_pb(&s))
    }

    async fn delete_standard(&self, caller: Caller, r: pb::DeleteServiceStandardRequest) -> Result<(), ApiError> {
        let (dept, id) = names::standard("name", &r.name)?;
        let label = format!("service standard '{}'", r.name);
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &dept, &label)?;
        let expected = if r.etag.is_empty() {
            None
        } else {
            Some(
                revision_from_etag(&r.etag)
                    .ok_or_else(|| ValidationError::one("etag", "is not an etag returned by this API"))?,
            )
        };
        self.active_department(&scope, &dept).await?;
        self.store
            .delete_service_standard(&ctx(&scope, &caller, AuditAction::ServiceStandardDelete), &dept, &id, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))
    }

    async fn resolve_standard(
        &self,
        caller: Caller,
        r: pb::ResolveServiceStandardRequest,
    ) -> Result<pb::ResolveServiceStandardResponse, ApiError> {
        let dept = names::department("parent", &r.parent)?;
        let label = dept_label(&dept);
        let scope = scope_for(&caller, Action::ReadServiceCatalog, &dept, &label)?;
        let mut errors = ValidationError::default();
        let category = if r.service_category_id.is_empty() {
            Some(None)
        } else {
            errors.check(ServiceCategoryId::parse("service_category_id", &r.service_category_id)).map(Some)
        };
        let channel = errors.check(convert::channel_from_pb("channel", r.channel));
        errors.into_result()?;
        let (Some(category), Some(channel)) = (category, channel) else {
            return Err(ApiError::Internal);
        };
        let d = self.store.get_department(&scope, &dept).await.map_err(|e| ApiError::from_store(e, &label))?;
        let standards =
            self.store.all_service_standards(&scope, &dept).await.map_err(|e| ApiError::from_store(e, &label))?;
        let (targets, used) = resolve_targets(d.default_targets, &standards, category.as_ref(), channel);
        Ok(pb::ResolveServiceStandardResponse {
            targets: Some(convert::targets_to_pb(&targets)),
            service_standard: used.map(|s| names::standard_name(&s.department_id, &s.id)).unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl<S: DepartmentStore + CalendarStore> DepartmentService for DepartmentsApi<S> {
    async fn create_department(
        &self,
        req: Request<pb::CreateDepartmentRequest>,
    ) -> Result<Response<pb::CreateDepartmentResponse>, Status> {
        handle!(req, |c, r| self.create_department(c, r), |d| pb::CreateDepartmentResponse { department: Some(d) })
    }

    async fn get_department(
        &self,
        req: Request<pb::GetDepartmentRequest>,
    ) -> Result<Response<pb::GetDepartmentResponse>, Status> {
        handle!(req, |c, r| self.get_department(c, &r.name), |d| pb::GetDepartmentResponse { department: Some(d) })
    }

    async fn list_departments(
        &self,
        req: Request<pb::ListDepartmentsRequest>,
    ) -> Result<Response<pb::ListDepartmentsResponse>, Status> {
        handle!(req, |c, r| self.list_departments(c, r), |x| x)
    }

    async fn update_department(
        &self,
        req: Request<pb::UpdateDepartmentRequest>,
    ) -> Result<Response<pb::UpdateDepartmentResponse>, Status> {
        handle!(req, |c, r| self.update_department(c, r), |d| pb::UpdateDepartmentResponse { department: Some(d) })
    }

    async fn archive_department(
        &self,
        req: Request<pb::ArchiveDepartmentRequest>,
    ) -> Result<Response<pb::ArchiveDepartmentResponse>, Status> {
        handle!(req, |c, r| self.set_department_status(c, &r.name, &r.etag, DepartmentStatus::Archived), |d| {
            pb::ArchiveDepartmentResponse { department: Some(d) }
        })
    }

    async fn unarchive_department(
        &self,
        req: Request<pb::UnarchiveDepartmentRequest>,
    ) -> Result<Response<pb::UnarchiveDepartmentResponse>, Status> {
        handle!(req, |c, r| self.set_department_status(c, &r.name, &r.etag, DepartmentStatus::Active), |d| {
            pb::UnarchiveDepartmentResponse { department: Some(d) }
        })
    }

    async fn create_service_category(
        &self,
        req: Request<pb::CreateServiceCategoryRequest>,
    ) -> Result<Response<pb::CreateServiceCategoryResponse>, Status> {
        handle!(req, |c, r| self.create_category(c, r), |x| pb::CreateServiceCategoryResponse {
            service_category: Some(x)
        })
    }

    async fn get_service_category(
        &self,
        req: Request<pb::GetServiceCategoryRequest>,
    ) -> Result<Response<pb::GetServiceCategoryResponse>, Status> {
        handle!(req, |c, r| self.get_category(c, &r.name), |x| pb::GetServiceCategoryResponse {
            service_category: Some(x)
        })
    }

    async fn list_service_categories(
        &self,
        req: Request<pb::ListServiceCategoriesRequest>,
    ) -> Result<Response<pb::ListServiceCategoriesResponse>, Status> {
        handle!(req, |c, r| self.list_categories(c, r), |x| x)
    }

    async fn update_service_category(
        &self,
        req: Request<pb::UpdateServiceCategoryRequest>,
    ) -> Result<Response<pb::UpdateServiceCategoryResponse>, Status> {
        handle!(req, |c, r| self.update_category(c, r), |x| pb::UpdateServiceCategoryResponse {
            service_category: Some(x)
        })
    }

    async fn retire_service_category(
        &self,
        req: Request<pb::RetireServiceCategoryRequest>,
    ) -> Result<Response<pb::RetireServiceCategoryResponse>, Status> {
        handle!(req, |c, r| self.retire_category(c, r), |x| pb::RetireServiceCategoryResponse {
            service_category: Some(x)
        })
    }

    async fn create_service_standard(
        &self,
        req: Request<pb::CreateServiceStandardRequest>,
    ) -> Result<Response<pb::CreateServiceStandardResponse>, Status> {
        handle!(req, |c, r| self.create_standard(c, r), |x| pb::CreateServiceStandardResponse {
            service_standard: Some(x)
        })
    }

    async fn get_service_standard(
        &self,
        req: Request<pb::GetServiceStandardRequest>,
    ) -> Result<Response<pb::GetServiceStandardResponse>, Status> {
        handle!(req, |c, r| self.get_standard(c, &r.name), |x| pb::GetServiceStandardResponse {
            service_standard: Some(x)
        })
    }

    async fn list_service_standards(
        &self,
        req: Request<pb::ListServiceStandardsRequest>,
    ) -> Result<Response<pb::ListServiceStandardsResponse>, Status> {
        handle!(req, |c, r| self.list_standards(c, r), |x| x)
    }

    async fn update_service_standard(
        &self,
        req: Request<pb::UpdateServiceStandardRequest>,
    ) -> Result<Response<pb::UpdateServiceStandardResponse>, Status> {
        handle!(req, |c, r| self.update_standard(c, r), |x| pb::UpdateServiceStandardResponse {
            service_standard: Some(x)
        })
    }

    async fn delete_service_standard(
        &self,
        req: Request<pb::DeleteServiceStandardRequest>,
    ) -> Result<Response<pb::DeleteServiceStandardResponse>, Status> {
        handle!(req, |c, r| self.delete_standard(c, r), |()| pb::DeleteServiceStandardResponse {})
    }

    async fn resolve_service_standard(
        &self,
        req: Request<pb::ResolveServiceStandardRequest>,
    ) -> Result<Response<pb::ResolveServiceStandardResponse>, Status> {
        handle!(req, |c, r| self.resolve_standard(c, r), |x| x)
    }

    async fn get_city_calendar(
        &self,
        req: Request<pb::GetCityCalendarRequest>,
    ) -> Result<Response<pb::GetCityCalendarResponse>, Status> {
        handle!(req, |c, r| self.get_city_calendar(c, &r.name), |x| pb::GetCityCalendarResponse {
            city_calendar: Some(x)
        })
    }

    async fn update_city_calendar(
        &self,
        req: Request<pb::UpdateCityCalendarRequest>,
    ) -> Result<Response<pb::UpdateCityCalendarResponse>, Status> {
        handle!(req, |c, r| self.update_city_calendar(c, r), |x| x)
    }

    async fn get_department_calendar(
        &self,
        req: Request<pb::GetDepartmentCalendarRequest>,
    ) -> Result<Response<pb::GetDepartmentCalendarResponse>, Status> {
        handle!(req, |c, r| self.get_department_calendar(c, &r.name), |x| pb::GetDepartmentCalendarResponse {
            department_calendar: Some(x)
        })
    }

    async fn update_department_calendar(
        &self,
        req: Request<pb::UpdateDepartmentCalendarRequest>,
    ) -> Result<Response<pb::UpdateDepartmentCalendarResponse>, Status> {
        handle!(req, |c, r| self.update_department_calendar(c, r), |x| x)
    }
}
