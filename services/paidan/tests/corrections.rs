//! Operator corrections round-trip into the training format: CorrectCase over gRPC, then
//! `paidan export-corrections` on the stopped server's data, read back by the trainer's parser.

mod common;

use paidan_proto::v1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_export_as_training_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, mut client, _) = common::serving(&data).await;
    let case = client
        .submit_complaint(common::complaint(
            "c-1",
            "人行道上的流动摊贩占道卖水果，行人只能走机动车道。联系电话13812345678",
        ))
        .await
        .unwrap()
        .into_inner();
    client
        .correct_case(v1::CorrectCaseRequest {
            case_id: case.case_id.clone(),
            category: "street_vending".into(),
            department: "subdistrict_office".into(),
            note: "属地处理".into(),
            actor: "op-3".into(),
        })
        .await
        .unwrap();
    server.stop().await.unwrap();

    let out = dir.path().join("corrections.jsonl");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_paidan"))
        .args(["export-corrections", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("13812345678"),
        "phone numbers are masked in exports: {text}"
    );
    let row: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(row["category"], "street_vending");
    assert_eq!(row["department"], "subdistrict_office");
    assert_eq!(
        row["predicted_category"],
        case.triage.unwrap().category.unwrap().code
    );
    assert_eq!(row["corrected_by"], "op-3");
    let (rows, _digest) = paidan_model::read_rows(&out).expect("the trainer reads the export");
    assert_eq!(rows.len(), 1);
}
