from django.urls import path

from fieldcollect.api import photo_views, sync_views, views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("auth/me/", views.MeView.as_view(), name="auth-me"),
    path("sync/push/", sync_views.SyncPushView.as_view(), name="sync-push"),
    path("sync/pull/", sync_views.SyncPullView.as_view(), name="sync-pull"),
    path("photos/<uuid:uuid>/", photo_views.PhotoUploadView.as_view(), name="photo-upload"),
    path("releves/<uuid:uuid>/", sync_views.ReleveDetailView.as_view(), name="releve-detail"),
]
