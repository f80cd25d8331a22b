//! Dead letters of the embedded broker: listed from, and replayed out of,
//! the consuming service's database (SQLite, and PostgreSQL when set).

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use marimo_platform::{
    bus::{Bus, Envelope, HandlerError, dlq, inbox},
    service::ServiceName,
};
use marimo_testkit::{backends, context_on};
use serde_json::json;

use crate::support::{count_reaches, scalar};

#[tokio::test]
async fn embedded_dead_letters_are_listed_and_replayed_once() {
    for backend in backends() {
        let bus = Bus::embedded();
        let settings = backend.settings(&[]).await;
        let publisher = context_on(ServiceName::Shop, settings.clone(), bus.clone()).await;
        let consumer = context_on(ServiceName::Accounting, settings.clone(), bus.clone()).await;
        let db = consumer.db().clone();
        sqlx::query("CREATE TABLE effects (event_id TEXT PRIMARY KEY)")
            .execute(db.pool())
            .await
            .unwrap();
        let accept = Arc::new(AtomicBool::new(false));
        let (h_db, h_accept) = (db.clone(), accept.clone());
        bus.subscribe(
            &db,
            "accounting",
            &["shop.order.*"],
            move |env: Envelope| {
                let (db, accept) = (h_db.clone(), h_accept.clone());
                async move {
                    if env.payload["poison"] == true && !accept.load(Ordering::SeqCst) {
                        return Err(HandlerError::Permanent("poison payload".into()));
                    }
                    let Some(mut tx) = inbox::begin(&db, "accounting", &env.id).await? else {
                        return Ok(());
                    };
                    sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
                        .bind(&env.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }
            },
        )
        .await
        .unwrap();

        let poison = Envelope::new("shop", "shop.order.paid", json!({"poison": true}));
        for env in [
            Envelope::new("shop", "shop.order.paid", json!({"order": 1})),
            poison.clone(),
            Envelope::new("shop", "shop.order.paid", json!({"order": 2})),
        ] {
            let mut tx = publisher.db().begin().await.unwrap();
            publisher.outbox.publish(&mut tx, &env).await.unwrap();
            tx.commit().await.unwrap();
        }
        publisher.outbox.wake();
        count_reaches(&consumer, "SELECT COUNT(*) FROM effects", 2).await;
        count_reaches(&consumer, "SELECT COUNT(*) FROM dead_letters", 1).await;

        let letters = dlq::list(&settings, "accounting").await.unwrap();
        assert_eq!(letters.len(), 1, "{}", backend.name());
        assert_eq!(letters[0].event_id, poison.id);
        assert_eq!(letters[0].event_type, "shop.order.paid");
        assert_eq!(letters[0].attempts, 1, "permanent errors are not retried");
        assert!(letters[0].error.contains("poison"), "{}", letters[0].error);
        assert_eq!(letters[0].envelope, serde_json::to_value(&poison).unwrap());
        assert!(dlq::list(&settings, "worker").await.unwrap().is_empty());
        assert!(dlq::list(&settings, "no_such_service").await.is_err());

        accept.store(true, Ordering::SeqCst);
        assert_eq!(dlq::replay(&settings, "accounting").await.unwrap(), 1);
        assert!(dlq::list(&settings, "accounting").await.unwrap().is_empty());
        consumer.outbox.wake();
        count_reaches(&consumer, "SELECT COUNT(*) FROM effects", 3).await;
        count_reaches(
            &consumer,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
            0,
        )
        .await;
        assert_eq!(dlq::replay(&settings, "accounting").await.unwrap(), 0);
        assert_eq!(
            scalar(&consumer, "SELECT COUNT(*) FROM processed_events").await,
            3
        );
    }
}
