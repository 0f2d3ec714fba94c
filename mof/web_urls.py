"""Pages. (Being built: see mof/views.py.)"""
urlpatterns = []
