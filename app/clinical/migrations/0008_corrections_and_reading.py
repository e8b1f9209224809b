"""Corrections (void, merge), the reading loop (addenda, the signed read on the study), folder
import previews; and the audit table handed to the audit app (the table itself stays)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def fill_final_reads(apps, schema_editor):  # noqa: ANN001, ANN201
    """Studies signed before this release: their newest review is their signed read."""
    Study = apps.get_model("clinical", "Study")
    Review = apps.get_model("clinical", "Review")
    for study in Study.objects.filter(reviewed=True).iterator():
        review = Review.objects.filter(study=study).order_by("-signed_at", "-id").first()
        if review is not None:
            Study.objects.filter(pk=study.pk).update(final_finding=review.finding, final_agrees=review.agrees_with_ai)


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0007_study_worklist_priority'),
        ('audit', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='review',
            options={'ordering': ['-signed_at', '-id']},
        ),
        migrations.AddField(
            model_name='importbatch',
            name='confirmed',
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='unknown_names_patient',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='clinical.patient'),
        ),
        migrations.AddField(
            model_name='importitem',
            name='planned_new',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='importitem',
            name='planned_patient',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='importitem',
            name='planned_source',
            field=models.CharField(blank=True, help_text='chosen, dicom or name', max_length=10),
        ),
        migrations.AddField(
            model_name='patient',
            name='merged_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='patient',
            name='merged_into',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='merged_records', to='clinical.patient'),
        ),
        migrations.AddField(
            model_name='review',
            name='amends',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='addenda', to='clinical.review'),
        ),
        migrations.AddField(
            model_name='review',
            name='detail',
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name='study',
            name='final_agrees',
            field=models.BooleanField(null=True),
        ),
        migrations.AddField(
            model_name='study',
            name='final_finding',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name='study',
            name='retake_done_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='study',
            name='void_note',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='study',
            name='void_reason',
            field=models.CharField(blank=True, choices=[('entered_in_error', 'Entered in error'), ('wrong_film', "Wrong film (not this patient's or not this examination)"), ('test', 'Test or practice image')], max_length=20),
        ),
        migrations.AddField(
            model_name='study',
            name='voided_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='study',
            name='voided_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name='AuditEvent')], database_operations=[]),
        migrations.RunPython(fill_final_reads, migrations.RunPython.noop),
    ]
