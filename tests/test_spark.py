"""Apache Spark reads the Parquet export as one table per directory and
reproduces the activity report (``stats --json --report``) from it.

Everything the report says about messages per chat and per sender, edit
and delete rates and reply times (count, median, per pair) is recomputed
here in Spark SQL / DataFrame code from ``messages/`` alone, the replies
included (a window over each chat), so the test proves both that the
partitioned layout is one table to Spark and that the report's definitions
can run on a cluster unchanged.

Needs ``pyspark`` (the ``test`` extra) and a Java runtime (Debian's
``default-jre-headless``, installed by ``scripts/test.sh``).  One local
SparkSession (2 threads, no UI, 2 shuffle partitions, bound to 127.0.0.1)
serves the module; its JVM is stopped at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pyspark = pytest.importorskip("pyspark")
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("no Java runtime (apt-get install default-jre-headless)", allow_module_level=True)

from pyspark import SparkContext  # noqa: E402
from pyspark.sql import DataFrame, SparkSession, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from tests.cli_helpers import cli  # noqa: E402

# pyspark 4.x warns that pandas 3 is not fully supported; nothing here uses
# pyspark's pandas conversion.
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """One small local Spark for the module; the JVM is gone afterwards."""
    session = (
        SparkSession.builder.master("local[2]")
        .appName("coi-archive-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        _stop_jvm(session)


def _stop_jvm(session: SparkSession) -> None:
    """Stop Spark and its JVM: the gateway JVM exits when its stdin closes."""
    gateway = SparkContext._gateway
    session.stop()
    if gateway is None:
        return
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if proc is not None:
        proc.stdin.close()
        proc.wait(timeout=60)
        assert proc.returncode is not None


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _export(archive: Path, out: Path) -> Path:
    cli(archive, "export", "--format", "parquet", "--out", out, inprocess=True)
    return out


def _replies(posts: DataFrame) -> DataFrame:
    """A reply is a dated message whose sender differs from the sender of the
    message right before it in the same chat (date, then position)."""
    dated = posts.where(F.col("date").isNotNull() & F.col("sender").isNotNull())
    order = Window.partitionBy("chat_id").orderBy("date", "seq")
    prev = dated.select(
        "chat_id",
        "sender",
        "date",
        F.lag("sender").over(order).alias("to_sender"),
        F.lag("date").over(order).alias("to_date"),
    )
    return prev.where(F.col("to_sender").isNotNull() & (F.col("sender") != F.col("to_sender"))).select(
        "sender", "to_sender", ((F.unix_micros("date") - F.unix_micros("to_date")) / 1e6).alias("seconds")
    )


def _median(frame: DataFrame, *keys: str) -> dict[Any, tuple[int, float]]:
    """(count, exact median seconds) per key tuple (``percentile`` is exact
    and interpolates like pandas' median)."""
    rows = frame.groupBy(*keys).agg(F.count("*").alias("n"), F.expr("percentile(seconds, 0.5)").alias("med")).collect()
    return {tuple(r[k] for k in keys): (r["n"], round(r["med"], 3)) for r in rows}


@pytest.mark.parametrize("which", ["samples", "corpus"])
def test_spark_reproduces_the_report(
    spark: SparkSession, which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    archive = request.getfixturevalue(which)
    report = cli(archive, "stats", "--json", "--report", inprocess=True).json()["report"]
    out = _export(archive, tmp_path / "pq")
    messages = spark.read.parquet(str(out / "messages"))
    assert "year" in messages.columns  # the partition directories are one table
    assert messages.where(F.col("year") != F.coalesce(F.year("date"), F.lit(0))).count() == 0
    posts = messages.where(F.col("kind") != "system").cache()

    totals = report["totals"]
    assert posts.count() == totals["messages"]
    assert messages.count() - posts.count() == totals["system_lines"]
    assert posts.select("chat_id").distinct().count() == totals["chats"]

    per_chat = {r["chat_id"]: r["count"] for r in posts.groupBy("chat_id").count().collect()}
    assert {c["chat_id"]: c["messages"] for c in report["per_chat"]} == {
        cid: per_chat[cid] for cid in (c["chat_id"] for c in report["per_chat"])
    }
    if len(report["per_chat"]) < 50:  # the report lists at most 50
        assert len(per_chat) == len(report["per_chat"])

    by_sender = {
        r["sender"]: r
        for r in posts.where(F.col("sender").isNotNull())
        .groupBy("sender")
        .agg(
            F.count("*").alias("messages"),
            F.sum(F.col("edited").cast("int")).alias("edited"),
            F.sum(F.col("deleted").cast("int")).alias("deleted"),
        )
        .collect()
    }
    for entry in report["per_sender"]:
        row = by_sender[entry["sender"]]
        assert (row["messages"], row["edited"], row["deleted"]) == (
            entry["messages"],
            entry["edited"],
            entry["deleted"],
        ), entry
        assert _rate(row["edited"], row["messages"]) == entry["edit_rate"]
        assert _rate(row["deleted"], row["messages"]) == entry["delete_rate"]
    edited = posts.where("edited").count()
    assert (edited, _rate(edited, posts.count())) == (totals["edited"], totals["edit_rate"])
    assert edited > 0 and totals["replies"] > 0  # the comparisons below are not empty

    replies = _replies(posts).cache()
    overall = _median(replies.withColumn("all", F.lit(1)), "all")
    assert overall.get((1,), (0, None)) == (totals["replies"], totals["median_reply_seconds"])
    assert report["reply_times"]["median_seconds"] == totals["median_reply_seconds"]
    pairs = _median(replies, "to_sender", "sender")
    for pair in report["reply_times"]["pairs"]:
        assert pairs[(pair["from"], pair["to"])] == (pair["replies"], pair["median_seconds"]), pair

    exported = spark.read.parquet(str(out / "replies"))  # the exported table agrees with the window
    assert exported.count() == totals["replies"]
    assert spark.read.parquet(str(out / "chats")).count() >= totals["chats"]
