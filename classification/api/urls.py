from django.urls import path

from classification.api import maps, sampling_views, views

urlpatterns = [
    path("exports/releves/", views.ReleveExportView.as_view(), name="export-releves"),
    path("exports/<uuid:uuid>/", views.ExportDetailView.as_view(), name="export-detail"),
    path("exports/<uuid:uuid>/download/", views.ExportDownloadView.as_view(), name="export-download"),
    path(
        "sample-points/<int:point_id>/report/",
        sampling_views.SamplePointReportView.as_view(),
        name="sample-point-report",
    ),
    path("accuracy-assessments/", maps.AccuracyAssessmentListView.as_view(), name="accuracy-assessment-list"),
    path(
        "accuracy-assessments/<int:pk>/",
        maps.AccuracyAssessmentDetailView.as_view(),
        name="accuracy-assessment-detail",
    ),
]
