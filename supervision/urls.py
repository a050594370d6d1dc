from django.urls import path, re_path

from supervision import views

app_name = "supervision"

urlpatterns = [
    path("", views.index, name="index"),
    path("greeters/spawn", views.spawn, name="spawn"),
    path("processes/exit", views.exit_process, name="exit"),
    path("api/greeters", views.api_greeters, name="api-greeters"),
    path("api/processes/<path:pid>/exit", views.api_exit, name="api-exit"),
    path("api/tree", views.api_tree, name="api-tree"),
    path("api/registry/<path:name>", views.api_registry, name="api-registry"),
    re_path(r"^api/", views.api_not_found),  # after every API route: any other /api/ URL
    path("metrics", views.metrics_view, name="metrics"),
    path("healthz", views.healthz, name="healthz"),
]
