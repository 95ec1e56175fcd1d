//! Row-level security of the coordination tables, checked with SQL that bypasses the store: a
//! raw connection acting as the app role with a CSO's (or another role's) session settings.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_domain::coordination::{HandoffKind, NewDumbRule, NewHandoff};
use cityserve_domain::policy::handoff_scope;
use cityserve_domain::{
    Action, Caller, CaseId, Channel, DepartmentId, DumbRuleId, EscalationId, FeedbackId, FeedbackKind, HandoffId,
    Location, NewFeedback, Role, TenantScope, authorize,
};
use cityserve_store::coordination::NewEscalation;
use cityserve_store::{DumbRuleStore, EscalationStore, FeedbackStore, HandoffStore, Idempotency, WriteCtx};
use cityserve_store_postgres::testing::{TestDatabase, postgres_tests_skipped};
use cityserve_store_postgres::{PgOptions, PgStore};
use sqlx::{Connection, PgConnection};

fn dept(id: &str) -> DepartmentId {
    DepartmentId::parse("id", id).unwrap()
}

fn cso(of: &str) -> Caller {
    Caller { subject: format!("cso-{of}"), role: Role::Cso, departments: vec![dept(of)] }
}

fn idem(id: &str) -> Idempotency {
    Idempotency { request_id: id.into(), request_hash: "h".into() }
}

fn ctx<'a>(scope: &'a TenantScope, actor: &'a Caller, action: &'static str) -> WriteCtx<'a> {
    WriteCtx { scope, actor, action, trace_id: None }
}

/// Streets, Water and Parks; a Streets complaint handed off to Water, escalated by Streets, and a
/// dumb rule Streets reported as affecting Streets and Water.
async fn seeded() -> Option<(PgStore, TestDatabase)> {
    if postgres_tests_skipped() {
        eprintln!("skipped: CITYSERVE_SKIP_POSTGRES_TESTS=1");
        return None;
    }
    let db = TestDatabase::create().await;
    let store = PgStore::connect(&db.url, PgOptions { max_connections: 4, ..PgOptions::default() }).await.unwrap();
    for d in ["streets", "water", "parks"] {
        cityserve_store::suite::seed_department(&store, d).await;
    }
    let chief = Caller { subject: "chief-1".into(), role: Role::Chief, departments: vec![] };
    let s = authorize(&chief, Action::SubmitFeedback, Some(&dept("streets"))).unwrap();
    let complaint = NewFeedback {
        media: Vec::new(),
        attributes: Vec::new(),
        client_ids: Default::default(),
        department_id: dept("streets"),
        id: FeedbackId::parse("id", "fb-1").unwrap(),
        channel: Channel::Phone,
        kind: FeedbackKind::Complaint,
        csat: None,
        nps: None,
        text: "The street cut was left open".into(),
        language: "en".into(),
        category: None,
        location: Location::default(),
        occurred_at: chrono::Utc::now(),
        resident: None,
        internal_customer: None,
        survey: None,
        served: Default::default(),
        source: None,
    };
    store.submit_feedback(&ctx(&s, &chief, "feedback.submit"), &idem("f1"), &complaint).await.unwrap();

    let c = cso("streets");
    let hs = handoff_scope(&c, Action::SendHandoff, &dept("streets"), &dept("water")).unwrap();
    let handoff = NewHandoff {
        department_id: dept("streets"),
        id: HandoffId::parse("id", "ho-1").unwrap(),
        case_id: CaseId::parse("id", "fb-1").unwrap(),
        to_department: dept("water"),
        kind: HandoffKind::Referral,
        reason: "The street cut was made by Water".into(),
    };
    store.send_handoff(&ctx(&hs, &c, "handoff.send"), &idem("h1"), &handoff).await.unwrap();
    let es = authorize(&c, Action::Escalate, Some(&dept("streets"))).unwrap();
    let escalation = NewEscalation {
        department_id: dept("streets"),
        id: EscalationId::parse("id", "es-1").unwrap(),
        case_id: CaseId::parse("id", "fb-1").unwrap(),
        reason: "Called five times".into(),
    };
    store.escalate_case(&ctx(&es, &c, "escalation.create"), &idem("e1"), &escalation).await.unwrap();
    let rs = authorize(&c, Action::ReportDumbRule, Some(&dept("streets"))).unwrap();
    let rule = NewDumbRule {
        id: DumbRuleId::parse("id", "dr-1").unwrap(),
        text: "Permits must be picked up in person".into(),
        affected: vec![dept("streets"), dept("water")],
        evidence: vec![(dept("streets"), FeedbackId::parse("id", "fb-1").unwrap())],
        reporter_department: Some(dept("streets")),
    };
    store.report_dumb_rule(&ctx(&rs, &c, "dumb_rule.report"), &idem("r1"), &rule).await.unwrap();
    Some((store, db))
}

/// A raw connection acting as the app role, as the server does.
async fn app_connection(db: &TestDatabase) -> PgConnection {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SET ROLE cityserve_app").execute(&mut conn).await.unwrap();
    conn
}

/// Runs `sql` (a count) in a transaction with `role` and `tenants` set (nothing set when `None`).
async fn count_as(conn: &mut PgConnection, session: Option<(&str, &str)>, sql: &str) -> i64 {
    let mut tx = conn.begin().await.unwrap();
    if let Some((role, tenants)) = session {
        sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', $2, true)")
            .bind(tenants)
            .bind(role)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

/// Runs `sql` as a CSO of `tenants` and returns the error it fails with.
async fn fails_as_cso(conn: &mut PgConnection, tenants: &str, sql: &str) -> String {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', 'cso', true)")
        .bind(tenants)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *tx).await.unwrap_err().to_string();
    tx.rollback().await.unwrap();
    err
}

#[tokio::test]
async fn coordination_rows_are_isolated_by_rls() {
    let Some((_store, db)) = seeded().await else { return };
    let mut conn = app_connection(&db).await;
    let cso_of = |d: &'static str| Some(("cso", d));
    for table in ["handoffs", "escalations", "rollups", "initiatives", "initiative_members", "dumb_rules"] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count_as(&mut conn, None, &sql).await, 0, "{table} with nothing set fails closed");
    }

    // The sender and the receiver see the hand-off; a third department does not.
    assert_eq!(count_as(&mut conn, cso_of("streets"), "SELECT count(*) FROM handoffs").await, 1);
    assert_eq!(
        count_as(&mut conn, cso_of("water"), "SELECT count(*) FROM handoffs WHERE department_id = 'streets'").await,
        1,
        "the receiving department reads a hand-off sent to it"
    );
    assert_eq!(count_as(&mut conn, cso_of("parks"), "SELECT count(*) FROM handoffs").await, 0);

    // Escalations and rollups are the department's own.
    assert_eq!(count_as(&mut conn, cso_of("streets"), "SELECT count(*) FROM escalations").await, 1);
    assert_eq!(count_as(&mut conn, cso_of("water"), "SELECT count(*) FROM escalations").await, 0);
    assert_eq!(count_as(&mut conn, cso_of("parks"), "SELECT count(*) FROM escalations").await, 0);
    assert!(count_as(&mut conn, cso_of("streets"), "SELECT count(*) FROM rollups").await > 0);
    assert!(count_as(&mut conn, cso_of("water"), "SELECT count(*) FROM rollups").await > 0, "ho.in is water's");
    assert_eq!(
        count_as(&mut conn, cso_of("water"), "SELECT count(*) FROM rollups WHERE department_id <> 'water'").await,
        0
    );
    assert_eq!(count_as(&mut conn, cso_of("parks"), "SELECT count(*) FROM rollups").await, 0);
    assert!(count_as(&mut conn, Some(("chief", "")), "SELECT count(*) FROM rollups").await > 0);

    // Nor can another department change or forge them.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', 'parks', true), set_config('app.role', 'cso', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let hijack = sqlx::query("UPDATE handoffs SET status = 'declined'").execute(&mut *tx).await.unwrap();
    assert_eq!(hijack.rows_affected(), 0);
    let bump = sqlx::query("UPDATE rollups SET value = value + 100").execute(&mut *tx).await.unwrap();
    assert_eq!(bump.rows_affected(), 0);
    tx.commit().await.unwrap();
    let forged = fails_as_cso(
        &mut conn,
        "parks",
        "INSERT INTO escalations (department_id, escalation_id, case_department, case_id, trigger, status, reason,
             created_by, create_time, revision)
         VALUES ('streets', 'es-x', 'streets', 'fb-1', 'manual', 'open', 'x', 'x', now(), 1)",
    )
    .await;
    assert!(forged.contains("row-level security"), "{forged}");
    let forged = fails_as_cso(
        &mut conn,
        "parks",
        "INSERT INTO rollups (department_id, day, metric, shard, value) VALUES ('streets', 1, 'fb', 0, 1)",
    )
    .await;
    assert!(forged.contains("row-level security"), "{forged}");
    // The app role deletes no escalation, hand-off or counter at all.
    let erase = fails_as_cso(&mut conn, "streets", "DELETE FROM escalations").await;
    assert!(erase.contains("permission denied"), "{erase}");
}

#[tokio::test]
async fn the_dumb_rules_register_is_readable_by_every_officer_role() {
    let Some((_store, db)) = seeded().await else { return };
    let mut conn = app_connection(&db).await;
    for role in ["chief", "auditor", "cso", "staff"] {
        let session = Some((role, "parks"));
        assert_eq!(count_as(&mut conn, session, "SELECT count(*) FROM dumb_rules").await, 1, "{role}");
        assert_eq!(count_as(&mut conn, session, "SELECT count(*) FROM dumb_rule_affected").await, 2, "{role}");
        assert_eq!(count_as(&mut conn, session, "SELECT count(*) FROM dumb_rule_evidence").await, 1, "{role}");
    }
    let service = Some(("service", "parks"));
    assert_eq!(count_as(&mut conn, service, "SELECT count(*) FROM dumb_rules").await, 0, "not a service client");
    assert_eq!(count_as(&mut conn, None, "SELECT count(*) FROM dumb_rules").await, 0, "fails closed");
    // The report was announced to Water, an affected department outside the reporter's scope.
    assert_eq!(
        count_as(&mut conn, Some(("cso", "water")), "SELECT count(*) FROM events WHERE resource = 'dumbRules/dr-1'")
            .await,
        1
    );
    // A department votes only for itself.
    let forged = fails_as_cso(
        &mut conn,
        "parks",
        "INSERT INTO dumb_rule_votes (department_id, rule_id, voter, verdict, comment, update_time)
         VALUES ('water', 'dr-1', 'cso-parks', 'kill', '', now())",
    )
    .await;
    assert!(forged.contains("row-level security"), "{forged}");
}
