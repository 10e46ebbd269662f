Return-Path: <bob@example.com>
Received: from smtp.example.com (smtp.example.com [192.0.2.25])
	by mail.example.com (Postfix) with ESMTPS id 47SPGz0Wd8z9sPS
	for <alice@example.com>; Wed,  4 Dec 2019 17:14:52 +0100 (CET)
From: Bob Barr <bob@example.com>
To: Alice Angel <alice@example.com>
Subject: Chat: Read receipt
Date: Wed, 4 Dec 2019 17:14:51 +0100
Message-ID: <chat$122B223.823202@example.com>
References: <chat$434571BC.89A707D2@example.com>
Chat-Version: 1.0
Content-Type: multipart/report; 
 report-type=disposition-notification;
 boundary="RAA14128.773615765/example.com"
Content-Disposition: notification
MIME-Version: 1.0

--RAA14128.773615765/example.com
Content-Type: message/disposition-notification

Reporting-UA: bobs-phone.example.com; COI Messenger 0.4.1
Original-Recipient: rfc822;bob@example.com
Final-Recipient: rfc822;bob@example.com
Original-Message-ID: <chat$S2571BC.2878&8@example.com>
Disposition: manual-action/MDN-sent-manually; displayed

--RAA14128.773615765/example.com--
