Return-Path: <noreply-dmarc@receiver.example>
Received: from mx.receiver.example (mx.receiver.example [192.0.2.25])
	by mx.example.com with ESMTPS id 4SVd1x0b2cz9s; Wed, 15 Nov 2023 09:00:00 +0000
From: DMARC Aggregate Report <noreply-dmarc@receiver.example>
To: dmarc-rua@example.com
Subject: Report Domain: example.com Submitter: receiver.example Report-ID: <rid-0001>
Date: Wed, 15 Nov 2023 09:00:00 +0000
Message-ID: <md2@receiver.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=_dmarc_b1"

This is a multi-part message in MIME format.

--=_dmarc_b1
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

This is an aggregate report from receiver.example.

--=_dmarc_b1
Content-Type: application/zip; name="r.zip"
Content-Disposition: attachment; filename="r.zip"
Content-Transfer-Encoding: base64

UEsDBBQAAAAIAMBDb1c4olVvCgIAAJ8GAAAFAAAAci54bWzVVU1z2jAQvedXeLjjr7QlzChKTr31
1PbsEdIaNLE+Ksk0+fddIRsbQhKm00u5sNp92n1v/TDk4Vl12R6cl0bfL6q8XGSguRFSb+8XP398
Xd4tHugNaQHEhvEnepNlZIBTRJNiPMSCA2tcaBQEJlhgMYdZ47aNZgroNyY7IV32HbQAR4pjIeFA
YZ1qg126l6VQzPFHBxwkjsjhmSnbASkSKt0Y5klBVWq9rEkxJRMImUDjmN4CJRvYSuS9KvHz5VOJ
9FOGIKOUXter9Rqn4JkUs6tRXnFBH7Gmk/ylsf2mk34Hx6kGKWk60M65Udgu5RKAiSepKG4hBYR5
2x6O8TtBLC5Do2RLiR9jDIjlgVaRfAwOxC6RwO1w40Y+zvxOEcbe9I5DIy2t1nVe5nVeYbMpO+K4
6XWgt6RIwZgehsGedT0uSIyFqFp6a7wM0RCJ7zwzw0XJlnmPgBhOlag+FY57mAk8m4lPZJRFpAAd
ZCvRjsdroPfQGQtN64w6fRanpfHCDhg68wJ8XhhGvxpIWB92jQPfd2HikJ7uO3YgHjrgwTiKQYW6
xyNJrYZ1DIfThR3W9X5zjiKpisSx9eHwRt/Jd8W5kIgavXSdre7yzxW6qsxXbxur/ktj/eoZ/iaD
/MBeLb4SLtorFf65vTZMzN5S/4+90jo+tteJvivs5U0bznpfZTFSTH82fwBQSwECFAMUAAAACADA
Q29XOKJVbwoCAACfBgAABQAAAAAAAAAAAAAApIEAAAAAci54bWxQSwUGAAAAAAEAAQAzAAAALQIA
AAAA

--=_dmarc_b1--
