"""The incidents app's part of the REST API (/api/v1/): one router per resource.

console/api.py mounts the routers; every handler fetches through the access helpers of
incidents.permissions and changes state through incidents.actions, as the pages do.
"""
