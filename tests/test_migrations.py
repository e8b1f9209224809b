"""Migrations that change what existing rows mean fill them in for databases made by earlier releases."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TransactionTestCase

BEFORE = [("clinical", "0006_analysis_compared_pack")]
AFTER = [("clinical", "0007_study_worklist_priority")]


class WorklistPriorityMigrationTestCase(TransactionTestCase):
    def test_it_gives_existing_studies_their_place_in_the_worklist_order(self) -> None:
        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        patient = old.get_model("clinical", "Patient").objects.create(patient_id="P-1")
        study_model, analysis_model = old.get_model("clinical", "Study"), old.get_model("clinical", "Analysis")
        expected = {}
        for i, (reviewed, positive, needs_review, analysed) in enumerate(
            [(False, True, True, True), (False, True, False, True), (False, False, True, True), (False, False, False, True), (True, True, True, True), (False, False, False, False)]
        ):
            study = study_model.objects.create(patient=patient, sha256=f"{i:064x}", original_name="x.png", stored_name=f"{i:064x}.png", file_format="png", size_bytes=1, reviewed=reviewed)
            if analysed:
                study.latest_analysis = analysis_model.objects.create(study=study, status="analysed", positive=positive, needs_review=needs_review)
                study.save()
            expected[study.pk] = (0 if reviewed else 4) + (2 if analysed and positive else 0) + (1 if analysed and needs_review else 0)

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        got = dict(new.get_model("clinical", "Study").objects.values_list("pk", "worklist_priority"))
        self.assertEqual(got, expected)
        self.assertEqual(sorted(set(got.values())), [3, 4, 5, 6, 7])

        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
