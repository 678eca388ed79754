# breachscan demo sample: stands in for a persistence script.
Write-Output "not malware"
